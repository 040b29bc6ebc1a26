"""What is wrong with encoded bytes that start like an image Pillow knows but that no format opens.

Pillow answers such bytes with ``UnidentifiedImageError`` ("cannot identify image file"), whatever the reason: a
PNG whose header declares a width of 0 looks the same as a text file. ``malformed_image`` asks each format whose
signature matches the bytes (Pillow's own check, ``PIL.Image.OPEN``) why it refused them, and reads the size the
header declares for PNG, GIF, BMP and JPEG, so that ``beit_runtime.images`` can name the format and the problem
("the PNG declares a 0x10 image (an image needs at least 1x1 pixels)") instead of the first bytes.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable

from PIL import Image

# what a format's factory raises on a header it refuses (ImageFile.__init__ turns most into SyntaxError)
_HEADER_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, struct.error)
# ImageFile.__init__'s answer when the header parsed but declares no pixel mode or a side <= 0
_NO_SIZE_OR_MODE = "not identified by this driver"
# what Pillow's parsers raise when they read past what a header holds, or fields that contradict each other
_PARSER_SLIPS = (IndexError, KeyError, TypeError, struct.error)
_JPEG_FRAME_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[12:16] != b"IHDR" or len(data) < 24:
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _gif_size(data: bytes) -> tuple[int, int] | None:
    return struct.unpack("<HH", data[6:10]) if len(data) >= 10 else None


def _bmp_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 26:
        return None
    header = struct.unpack("<I", data[14:18])[0]
    if header == 12:  # OS/2 1.x: 16-bit sides
        return struct.unpack("<HH", data[18:22])
    width, height = struct.unpack("<ii", data[18:26])
    return abs(width), abs(height)  # a negative height: rows stored top-down


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """The size of the first frame header (SOFn) after SOI, walking the segments by their lengths."""
    position = 2
    while position + 9 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if marker in _JPEG_FRAME_MARKERS:
            height, width = struct.unpack(">HH", data[position + 5:position + 9])
            return width, height
        position += 2 + struct.unpack(">H", data[position + 2:position + 4])[0]
    return None


# (width, height) as a format's header declares it, read without Pillow (which refuses a side of 0 unread)
_DECLARED_SIZE: dict[str, Callable[[bytes], tuple[int, int] | None]] = {
    "PNG": _png_size, "GIF": _gif_size, "BMP": _bmp_size, "JPEG": _jpeg_size,
}


def malformed_image(data: bytes) -> str | None:
    """What is wrong with ``data``, which Pillow could not identify, when its first bytes are the signature of a
    format Pillow knows: "the PNG declares a 0x10 image (...)", "the PNG header cannot be read: broken PNG file
    (...)"; None when no format's signature matches (the caller shows the first bytes)."""
    Image.init()
    for name in Image.ID:
        factory, accept = Image.OPEN[name]
        claim = _claims(accept, data)
        if isinstance(claim, str):  # recognised, but its plugin cannot open it here (a library missing)
            return f"its first bytes are a {name} image's: {claim}"
        if not claim:
            continue
        try:
            factory(io.BytesIO(data), "").close()
        except _HEADER_ERRORS as error:
            return _header_problem(name, data, reason=_reason(error))
    return None


def _reason(error: Exception) -> str:
    text = str(error) or type(error).__name__
    slipped = isinstance(error, _PARSER_SLIPS) or isinstance(error.__cause__, _PARSER_SLIPS)  # PNG re-raises them
    if slipped:  # the parser's own words ("list index out of range") say nothing alone
        return f"it is cut short or its fields disagree (Pillow's parser: {text})"
    return text


def _claims(accept: Callable[[bytes], bool | str] | None, data: bytes) -> bool | str:
    """What a plugin's signature check says of ``data``: formats without one claim nothing, and a check that
    fails on a file shorter than the bytes it reads (Pillow's DIB check unpacks 4) claims nothing either."""
    if accept is None:
        return False
    try:
        return accept(data[:16])
    except (*_PARSER_SLIPS, ValueError):
        return False


def _header_problem(name: str, data: bytes, *, reason: str) -> str:
    try:
        size = _DECLARED_SIZE[name](data) if name in _DECLARED_SIZE else None
    except struct.error:  # a header cut short
        size = None
    if size is not None and min(size) == 0:
        return f"the {name} declares a {size[0]}x{size[1]} image (an image needs at least 1x1 pixels)"
    if reason == _NO_SIZE_OR_MODE:
        reason = "it declares an empty image (a width or height of 0) or a pixel format Pillow does not know"
    return f"the {name} header cannot be read: {reason}"
