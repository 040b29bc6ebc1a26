"""Turn whatever a user passes as "an image" into an HxWx3 uint8 RGB array, or raise a typed error.

Accepted sources:

- a path (``str`` / ``os.PathLike``) or encoded bytes (``bytes``, ``bytearray``, ``memoryview``) of
  any format Pillow decodes (JPEG, PNG, BMP, TIFF, WebP, GIF, ...). They are decoded with Pillow, as
  ``transformers.image_utils.load_image`` (what the pipelines use) decodes them, so the pixels are the
  ones the reference sees, except for 16-bit grayscale files (below). An open binary file is read into
  its bytes before it gets here (``image_batches.load_source``);
- numpy arrays: uint8 HxWx3 (RGB by default, ``channel_order="bgr"`` for OpenCV frames), HxWx4
  (alpha dropped; BGRA with ``"bgr"``), grayscale HxW or HxWx1 (replicated to three channels);
- uint16 arrays: 16-bit data, reduced to 8 bits by keeping the high byte (``v >> 8``). One whose
  values are all at most 4095 is 8- or 12-bit data in a uint16 array (its high byte would be 0..15:
  black), so it is refused with ``ImageFormatError`` naming the fix (``a.astype(np.uint8)``, or
  ``(a >> 4).astype(np.uint8)`` for 12-bit data; ``(a >> 8).astype(np.uint8)`` for a really dark 16-bit frame);
- 16-bit files and PIL "I;16" images keep the high byte (``v >> 8``) whatever their range (a dark
  16-bit PNG is real data). For 16-bit colour PNGs that is what Pillow, so transformers, does too; for
  16-bit *grayscale* files transformers' ``convert("RGB")`` clips every value above 255 to 255, which
  whitens almost every pixel, and that is deliberately not copied: such images differ from the reference;
- a ``PIL.Image.Image``, converted to RGB (alpha dropped).

EXIF orientation: phone cameras store pixels as the sensor read them plus an EXIF "Orientation" tag
saying how to turn them upright. By default (``exif_orientation=True``) paths, bytes and PIL images
are turned upright with ``PIL.ImageOps.exif_transpose``, exactly as transformers' ``load_image``
does, so a 200x300 JPEG tagged orientation 6 comes out 300 wide and 200 tall and label maps line up
with what viewers show. ``exif_orientation=False`` keeps the stored pixel order. Arrays carry no
metadata and are never turned.

Anything else raises ``ImageDecodeError`` (unreadable path, corrupt, truncated or empty data, a header
declaring an empty image, an image over Pillow's decompression-bomb limit) or ``ImageFormatError``
(unsupported type, dtype, shape, channel count, negative or empty data, 32-bit integer or float files).
Both are ``ImageError``s, so ``InputError``s: the caller's input.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from .errors import ImageDecodeError, ImageFormatError, InputError
from .image_headers import malformed_image

CHANNEL_ORDERS = ("rgb", "bgr")
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
_PREMULTIPLIED = {"La": "LA", "RGBa": "RGBA"}
_UNSUPPORTED_FILE_MODES = {"I": "32-bit integer", "F": "32-bit float"}
# What Pillow raises on malformed input (the exceptions its own fuzzers accept as "handled"), and on an image over
# its decompression-bomb limit; UnidentifiedImageError (no format claims the bytes) is an OSError
PILLOW_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)


def check_channel_order(channel_order: str) -> str:
    if channel_order not in CHANNEL_ORDERS:
        raise InputError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
    return channel_order


def load_image(source: Any, *, channel_order: str = "rgb", exif_orientation: bool = True) -> np.ndarray:
    """Decode/validate one image; returns a C-contiguous HxWx3 uint8 RGB array.

    ``channel_order`` applies to arrays only (files are always decoded to RGB). ``exif_orientation``
    (paths, bytes and PIL images): turn the image upright as its EXIF Orientation tag says, as
    transformers' ``load_image`` does; ``False`` keeps the stored pixel order.
    """
    check_channel_order(channel_order)
    if isinstance(source, (str, os.PathLike)):
        if not os.fspath(source):
            raise ImageDecodeError("the image path is empty; pass the path of an image file")
        image = open_image(_read_file(Path(source)), origin=str(source), exif_orientation=exif_orientation)
        return pil_to_rgb8(image, decoded=True)
    if isinstance(source, (bytes, bytearray, memoryview)):
        image = open_image(bytes(source), origin="the encoded image", exif_orientation=exif_orientation)
        return pil_to_rgb8(image, decoded=True)
    if isinstance(source, np.ndarray):
        # a uint16 array of 8- or 12-bit data (max <= 4095) would keep a high byte of 0..15: black. Files and PIL
        # "I;16" images are not refused (a dark 16-bit PNG is real data); an array's range says how it was made
        if source.dtype == np.uint16 and source.size and int(source.max()) <= 4095:
            raise ImageFormatError(
                f"uint16 image array holds values of at most {int(source.max())}, which looks like 8- or 12-bit "
                "data, not 16-bit (whose high byte is kept, here 0..15: black); pass a.astype(np.uint8) for 8-bit "
                "data or (a >> 4).astype(np.uint8) for 12-bit data; if it really is a dark 16-bit frame, pass "
                "(a >> 8).astype(np.uint8)")
        return to_rgb8(source, channel_order=channel_order)
    if isinstance(source, Image.Image):
        _load_pixels(source)
        return pil_to_rgb8(upright(source) if exif_orientation else source)
    raise ImageFormatError(
        f"cannot use a {type(source).__name__} as an image; pass a file path, encoded bytes, "
        "a numpy uint8 array (HxWx3, HxWx4, HxW) or a PIL image"
    )


def missing_file_message(path: Path) -> str:
    """What an error says of an image file that is not there (or a link to one that is gone)."""
    if path.is_symlink():
        return f"image file {path} is a symbolic link to {os.readlink(path)}, which does not exist; fix or remove it"
    return f"image file {path} does not exist; check the path"


def _read_file(path: Path) -> bytes:
    if not path.exists():
        raise ImageDecodeError(missing_file_message(path))
    if path.is_dir():
        raise ImageDecodeError(f"{path} is a directory, expected an image file (pass the files inside it)")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ImageDecodeError(f"cannot read image file {path}: {error}") from error
    if not data:
        raise ImageDecodeError(f"image file {path} is empty (0 bytes); re-create or re-download it")
    return data


def open_image(data: bytes, *, origin: str = "the given bytes", exif_orientation: bool = True) -> Image.Image:
    """Decode an encoded image with Pillow, fully loaded and (by default) turned upright by its EXIF tag."""
    if not data:
        raise ImageDecodeError(f"{origin}: empty buffer, expected an encoded image (JPEG, PNG, ...)")
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
        if exif_orientation:
            ImageOps.exif_transpose(image, in_place=True)
    except Image.DecompressionBombError as error:
        raise ImageDecodeError(
            f"{origin} is larger than Pillow's decompression-bomb limit ({error}); if you trust the file, "
            "raise PIL.Image.MAX_IMAGE_PIXELS before loading it"
        ) from error
    except PILLOW_DECODE_ERRORS as error:
        raise ImageDecodeError(
            f"{origin} is not a decodable image (corrupt, truncated, or a format Pillow cannot read): "
            f"{_decode_failure(error, data)}"
        ) from error
    return image


def _decode_failure(error: Exception, data: bytes) -> str:
    """Pillow's reason; for bytes no format opens (its message names only an in-memory buffer), the format their
    signature names and what is wrong with its header (``image_headers``), else what they start with: an HTML
    error page saved under an image's name shows itself."""
    if not isinstance(error, UnidentifiedImageError):
        return str(error)
    malformed = malformed_image(data)
    if malformed is not None:
        return malformed
    text = " (text, not an image: a web page or error message saved under an image's name?)" \
        if data[:64].lstrip().startswith((b"<", b"{")) else ""
    return f"no image format matches its first bytes {data[:16]!r}{text}"


def _load_pixels(image: Image.Image) -> None:
    """Decode a lazily opened PIL image now; ImageDecodeError naming its file when it is closed or truncated."""
    filename = getattr(image, "filename", "")
    origin = f"PIL image of {filename}" if filename else "PIL image"
    try:
        image.load()
    except (*PILLOW_DECODE_ERRORS, AssertionError) as error:  # Pillow asserts on a file closed by `with`
        closed = "closed" in str(error) or getattr(image, "fp", "") is None
        why = ("is closed; load it before closing it (call load_image inside the `with Image.open(...)` block)"
               if closed else "cannot be decoded: the file is truncated or unreadable")
        raise ImageDecodeError(f"the {origin} {why} ({str(error) or type(error).__name__})") from error


def upright(image: Image.Image) -> Image.Image:
    """``PIL.ImageOps.exif_transpose(image)`` when its EXIF Orientation tag asks for a turn, else ``image``."""
    try:
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    except PILLOW_DECODE_ERRORS as error:
        raise ImageDecodeError(
            f"the image's EXIF data cannot be read ({error}); pass exif_orientation=False"
        ) from error
    return ImageOps.exif_transpose(image) if orientation in range(2, 9) else image


def pil_to_rgb8(image: Image.Image, *, decoded: bool = False) -> np.ndarray:
    """A PIL image as HxWx3 uint8 RGB (16-bit: high byte; alpha dropped; palettes, CMYK... converted).

    32-bit integer and float images ("I", "F") are refused, from a file (``decoded``) or from a caller:
    their range (0..1, 0..255, 0..65535) is ambiguous, as for float and int32 arrays, and Pillow's own
    conversion clips them (a 0..1 float image became black).
    """
    if image.mode in _UNSUPPORTED_FILE_MODES:
        kind = _UNSUPPORTED_FILE_MODES[image.mode]
        if decoded:
            raise ImageFormatError(f"decoded image has {kind} pixels (HDR/float formats are not supported); "
                                   "convert it to an 8- or 16-bit PNG or JPEG")
        raise ImageFormatError(f"PIL image mode {image.mode!r} has {kind} pixels, whose range (0..1, 0..255 or "
                               "0..65535) is ambiguous; convert it to 'L' or 'RGB' first, e.g. Image.fromarray("
                               "np.clip(np.asarray(image) * 255, 0, 255).astype(np.uint8)) for 0..1 data")
    if image.mode in _SIXTEEN_BIT_MODES:
        return to_rgb8(np.asarray(image).astype(np.uint16, copy=False))
    if image.mode not in ("RGB", "RGBA", "L"):
        image = _convert(image, "RGBA" if "A" in image.getbands() else "RGB")
    array = np.array(image)  # a writable copy (np.asarray would be a read-only view of image.tobytes())
    return to_rgb8(array)


def _convert(image: Image.Image, mode: str) -> Image.Image:
    """``image.convert(mode)``, premultiplied-alpha modes ("La", "RGBa") through their plain form first;
    ImageFormatError naming the mode when Pillow has no conversion."""
    try:
        plain = image.convert(_PREMULTIPLIED[image.mode]) if image.mode in _PREMULTIPLIED else image
        return plain.convert(mode)
    except ValueError as error:
        raise ImageFormatError(
            f"PIL image mode {image.mode!r} cannot be converted to RGB ({error}); convert it to 'RGB' or 'L' first"
        ) from error


def _check_dtype(array: np.ndarray) -> None:
    if array.dtype in (np.uint8, np.uint16):
        return
    if np.issubdtype(array.dtype, np.floating):
        raise ImageFormatError(
            f"float image arrays ({array.dtype}) are not accepted: their range (0..1 or 0..255) is "
            "ambiguous; convert with np.clip(x * 255, 0, 255).round().astype(np.uint8) for 0..1 data"
        )
    if np.issubdtype(array.dtype, np.signedinteger):
        negative = array.size > 0 and int(array.min()) < 0
        detail = "it has negative values" if negative else "signed integer types are not accepted"
        raise ImageFormatError(
            f"image array has dtype {array.dtype} ({detail}); pass uint8 pixels 0..255, "
            "e.g. np.clip(x, 0, 255).astype(np.uint8)"
        )
    raise ImageFormatError(f"image array has unsupported dtype {array.dtype}; expected uint8 (or uint16)")


def _check_shape(array: np.ndarray) -> None:
    if array.ndim not in (2, 3):
        raise ImageFormatError(
            f"image array must be HxW, HxWx1, HxWx3 or HxWx4, got shape {array.shape} "
            f"({array.ndim} dimensions); pass images one by one or as a list"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageFormatError(f"image array is empty (shape {array.shape}); height and width must be > 0")
    if array.ndim == 3 and array.shape[2] not in (1, 3, 4):
        hint = ""
        if array.shape[0] in (1, 3, 4):
            hint = "; it looks channel-first, transpose it with np.transpose(x, (1, 2, 0))"
        raise ImageFormatError(
            f"image array has {array.shape[2]} channels (shape {array.shape}); expected 1, 3 or 4 "
            f"channels last{hint}"
        )


def to_rgb8(array: np.ndarray, *, channel_order: str = "rgb") -> np.ndarray:
    """Validate a pixel array and return it as C-contiguous HxWx3 uint8 RGB."""
    check_channel_order(channel_order)
    _check_dtype(array)
    _check_shape(array)
    if array.dtype == np.uint16:
        array = (array >> 8).astype(np.uint8)
    if array.ndim == 2 or array.shape[2] == 1:
        gray = array.reshape(array.shape[0], array.shape[1])
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    color = array[:, :, :3]
    if channel_order == "bgr":
        color = color[:, :, ::-1]
    return np.ascontiguousarray(color)
