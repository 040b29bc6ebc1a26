"""Bytes that start like an image Pillow knows but that no format opens are told by their format and the problem
(a side of 0 pixels, a broken header), not by their first bytes."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from beit_runtime.errors import ImageDecodeError, InputError
from beit_runtime.image_headers import malformed_image
from beit_runtime.images import load_image


def _png(width: int, height: int, *, checksum_ok: bool = True) -> bytes:
    """A PNG whose IHDR declares ``width`` x ``height``, followed by one IDAT chunk (RGB, 8 bits)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    crc = zlib.crc32(b"IHDR" + header) ^ (0 if checksum_ok else 1)
    pixels = zlib.compress(b"\x00" * 31)
    idat = struct.pack(">I", len(pixels)) + b"IDAT" + pixels + struct.pack(">I", zlib.crc32(b"IDAT" + pixels))
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + header + struct.pack(">I", crc) + idat


def _gif(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00;"


def _bmp(width: int, height: int) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 0, 0, 0, 0)
    return b"BM" + struct.pack("<IHHI", 100, 0, 0, 54) + info + bytes(46)


def _jpeg_with_height_0() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(buffer, "JPEG")
    data = buffer.getvalue()
    frame = data.index(b"\xff\xc0")  # SOF0: length (2), precision (1), height (2), width (2)
    return data[:frame + 5] + b"\x00\x00" + data[frame + 7:]


def test_a_png_declaring_a_width_of_0_is_named_with_its_size(tmp_path):
    path = tmp_path / "zero_w.png"
    path.write_bytes(_png(0, 10))
    with pytest.raises(ImageDecodeError) as raised:
        load_image(path)
    message = str(raised.value)
    assert message.startswith(f"{path} is not a decodable image")
    assert message.endswith("the PNG declares a 0x10 image (an image needs at least 1x1 pixels)")
    assert "first bytes" not in message and "IHDR" not in message  # a valid signature is not the problem
    assert isinstance(raised.value, InputError)


@pytest.mark.parametrize(("data", "expected"), [
    (_png(7, 0), "the PNG declares a 7x0 image"),
    (_gif(0, 5), "the GIF declares a 0x5 image"),
    (_bmp(0, 5), "the BMP declares a 0x5 image"),
    (_jpeg_with_height_0(), "the JPEG declares a 6x0 image"),
])
def test_each_format_with_a_side_of_0_names_the_format_and_the_size(data, expected):
    assert malformed_image(data) == f"{expected} (an image needs at least 1x1 pixels)"
    with pytest.raises(ImageDecodeError, match=f"^the encoded image is not a decodable image .*: {expected}"):
        load_image(data)


def test_a_broken_header_of_a_known_format_says_what_its_reader_found():
    message = malformed_image(_png(4, 4, checksum_ok=False))
    assert message is not None and message.startswith("the PNG header cannot be read: ") and "checksum" in message


@pytest.mark.parametrize("data", [b"not an image", b"<!DOCTYPE html>", b"GIF87 not really", bytes(16)])
def test_bytes_no_format_claims_are_left_to_the_caller(data):
    assert malformed_image(data) is None  # load_image shows their first bytes instead
    with pytest.raises(ImageDecodeError, match="no image format matches its first bytes"):
        load_image(data)


@pytest.mark.parametrize("length", [1, 2, 3, 4, 15])
def test_a_file_shorter_than_any_header_is_an_image_decode_error_whatever_its_first_byte(length):
    # Pillow's DIB signature check unpacks 4 bytes: on 1-3 bytes it raised struct.error out of load_image
    rng = np.random.default_rng(length)
    for first in range(256):
        data = bytes([first]) + rng.integers(0, 256, size=length - 1, dtype=np.uint8).tobytes()
        with pytest.raises(ImageDecodeError, match="is not a decodable image"):
            load_image(data)


def test_beit_run_on_a_tiff_whose_tags_overrun_the_file_prints_one_error_line(beit_classifier_artifact, tmp_path):
    # Pillow warns "Tag data larger than file" (a UserWarning with its source line) before it fails to open it
    tiff = tmp_path / "tags.tif"
    entry = struct.pack("<HHII", 256, 4, 0x10000, 0x1000)  # ImageWidth: 65536 LONGs at offset 4096, past the end
    tiff.write_bytes(b"II*\x00" + struct.pack("<IH", 8, 1) + entry + struct.pack("<I", 0))
    done = subprocess.run([sys.executable, "-m", "beit_runtime.cli", str(beit_classifier_artifact), str(tiff)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 3 and done.stdout == ""
    assert done.stderr == (f"beit-run: error: {tiff} is not a decodable image (corrupt, truncated, or a format Pillow "
                           "cannot read): the TIFF header cannot be read: it is cut short or its fields disagree "
                           "(Pillow's parser: Missing dimensions)\n")


def test_a_header_cut_short_is_said_in_words_with_the_parser_s_detail_after():
    # the PNG parser re-raises struct.error as SyntaxError: its text alone ("unpack_from requires a buffer ...")
    # did not say what was wrong with the file
    with pytest.raises(ImageDecodeError, match=r"the PNG header cannot be read: it is cut short or its fields "
                                               r"disagree \(Pillow's parser: unpack_from requires"):
        load_image(_png(4, 4)[:35])
