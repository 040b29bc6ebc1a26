"""load_image: every accepted source gives HxWx3 uint8 RGB; every bad input a typed, explicit error."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from beit_runtime.errors import ImageDecodeError, ImageFormatError
from beit_runtime.images import load_image


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (21, 34, 3), dtype=np.uint8)


def _png(array: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", array)
    assert ok
    return encoded.tobytes()


def test_rgb_array_is_returned_contiguous(rgb):
    out = load_image(rgb[:, ::-1])
    assert out.dtype == np.uint8 and out.shape == rgb.shape and out.flags.c_contiguous
    np.testing.assert_array_equal(out, rgb[:, ::-1])


def test_bgr_frames_are_flipped(rgb):
    np.testing.assert_array_equal(load_image(rgb[:, :, ::-1].copy(), channel_order="bgr"), rgb)


def test_png_path_bytes_and_pathlike_decode_to_rgb(tmp_path, rgb):
    path = tmp_path / "image.png"
    path.write_bytes(_png(rgb[:, :, ::-1]))  # OpenCV writes BGR
    for source in (path, str(path), path.read_bytes(), bytearray(path.read_bytes()), memoryview(path.read_bytes())):
        np.testing.assert_array_equal(load_image(source), rgb)


def test_channel_order_does_not_apply_to_files(tmp_path, rgb):
    path = tmp_path / "image.png"
    path.write_bytes(_png(rgb[:, :, ::-1]))
    np.testing.assert_array_equal(load_image(path, channel_order="bgr"), rgb)


def test_jpeg_decodes_in_rgb_order():
    smooth = np.zeros((32, 48, 3), dtype=np.uint8)
    smooth[:, :, 0] = 200  # red
    smooth[:, :, 2] = np.linspace(0, 60, 48, dtype=np.uint8)[None, :]
    ok, encoded = cv2.imencode(".jpg", smooth[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    out = load_image(encoded.tobytes())
    assert out.shape == smooth.shape and np.abs(out.astype(int) - smooth).max() <= 8


@pytest.mark.parametrize("shape", [(21, 34), (21, 34, 1)])
def test_grayscale_is_replicated(shape):
    gray = np.arange(21 * 34, dtype=np.uint8).reshape(shape)
    out = load_image(gray)
    assert out.shape == (21, 34, 3)
    for channel in range(3):
        np.testing.assert_array_equal(out[:, :, channel], gray.reshape(21, 34))


def test_rgba_drops_alpha_and_bgra_is_flipped(rgb):
    alpha = np.full((*rgb.shape[:2], 1), 7, dtype=np.uint8)
    np.testing.assert_array_equal(load_image(np.concatenate([rgb, alpha], axis=2)), rgb)
    bgra = np.concatenate([rgb[:, :, ::-1], alpha], axis=2)
    np.testing.assert_array_equal(load_image(bgra, channel_order="bgr"), rgb)


def test_png_with_alpha_file(rgb):
    bgra = np.concatenate([rgb[:, :, ::-1], np.zeros((*rgb.shape[:2], 1), np.uint8)], axis=2)
    np.testing.assert_array_equal(load_image(_png(bgra)), rgb)


def test_uint16_keeps_the_high_byte(rgb):
    wide = rgb.astype(np.uint16) * 256 + 200  # high byte is v, low byte 200
    np.testing.assert_array_equal(load_image(wide), rgb)
    np.testing.assert_array_equal(load_image(_png(wide[:, :, ::-1])), rgb)  # 16-bit colour PNG
    gray16 = np.array([[0, 255, 256, 65535]], dtype=np.uint16)
    np.testing.assert_array_equal(load_image(_png(gray16))[0, :, 0], [0, 0, 1, 255])  # 16-bit gray PNG


def test_pil_images_are_accepted(rgb):
    from PIL import Image

    np.testing.assert_array_equal(load_image(Image.fromarray(rgb)), rgb)
    paletted = Image.fromarray(rgb).convert("P").convert("RGB")
    np.testing.assert_array_equal(load_image(paletted), np.asarray(paletted))
    assert load_image(Image.fromarray(rgb).convert("L")).shape == rgb.shape


def _saved(image, fmt: str, **options) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


@pytest.mark.parametrize("mode, fmt", [("RGB", "JPEG"), ("L", "JPEG"), ("CMYK", "JPEG"), ("P", "PNG"), ("LA", "PNG"),
                                       ("1", "PNG"), ("RGBA", "PNG"), ("RGB", "WEBP"), ("P", "GIF"), ("RGB", "BMP")])
def test_files_decode_exactly_like_transformers(rgb, mode, fmt):
    """Decoding is Pillow's, as in transformers' load_image: the same pixels, whatever the mode or format."""
    import io

    from PIL import Image
    from transformers.image_utils import load_image as hf_load_image

    data = _saved(Image.fromarray(rgb).convert(mode), fmt)
    expected = np.asarray(hf_load_image(Image.open(io.BytesIO(data))))
    out = load_image(data)
    assert out.flags.writeable and out.flags.c_contiguous
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("array", [np.zeros((4, 5), np.float32), np.full((4, 5), 70000, np.int32)])
def test_float_and_32_bit_files_are_refused(array):
    from PIL import Image

    with pytest.raises(ImageFormatError, match="not supported"):
        load_image(_saved(Image.fromarray(array), "TIFF"))


def test_decompression_bombs_are_refused(monkeypatch, rgb):
    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # the 21x34 image is over twice the limit
    with pytest.raises(ImageDecodeError, match="decompression-bomb"):
        load_image(_png(rgb))


def test_truncated_jpeg(rgb):
    from PIL import Image

    data = _saved(Image.fromarray(rgb), "JPEG", quality=90)
    with pytest.raises(ImageDecodeError, match="truncated"):
        load_image(data[: len(data) // 2])


# ---------------------------------------------------------------- bad inputs
def test_missing_path(tmp_path):
    with pytest.raises(ImageDecodeError, match="does not exist"):
        load_image(tmp_path / "nope.jpg")


def test_directory_path(tmp_path):
    with pytest.raises(ImageDecodeError, match="is a directory"):
        load_image(tmp_path)


def test_empty_file(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageDecodeError, match="empty"):
        load_image(tmp_path / "empty.png")


def test_empty_bytes():
    with pytest.raises(ImageDecodeError, match="empty"):
        load_image(b"")


@pytest.mark.parametrize(
    "payload", [b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, bytes(range(256)) * 4]
)
def test_corrupt_bytes_and_files(tmp_path, payload):
    with pytest.raises(ImageDecodeError, match=r"not a decodable image|could not be decoded"):
        load_image(payload)
    (tmp_path / "bad.jpg").write_bytes(payload)
    with pytest.raises(ImageDecodeError):
        load_image(tmp_path / "bad.jpg")


@pytest.mark.parametrize(("payload", "web_page"), [(b"<!DOCTYPE html><html>404 Not Found</html>", True),
                                                   (b'{"error": "quota exceeded"}', True),
                                                   (b"GIF87 not really", False)])
def test_a_file_no_format_claims_is_named_by_its_first_bytes(tmp_path, payload, web_page):
    (tmp_path / "photo.jpg").write_bytes(payload)
    with pytest.raises(ImageDecodeError) as raised:
        load_image(tmp_path / "photo.jpg")
    message = str(raised.value)
    assert "photo.jpg is not a decodable image" in message and repr(payload[:16]) in message
    assert ("web page or error message saved under an image's name" in message) is web_page
    assert "BytesIO" not in message  # Pillow's own message names only its in-memory buffer


def test_truncated_png(rgb):
    data = _png(rgb)
    with pytest.raises(ImageDecodeError):
        load_image(data[: len(data) // 3])


@pytest.mark.parametrize("exif_orientation", [True, False])
def test_a_lazily_opened_truncated_file_names_the_file(tmp_path, rgb, exif_orientation):
    from PIL import Image

    data = _saved(Image.fromarray(rgb), "JPEG", quality=90)
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageDecodeError, match=r"cut\.jpg cannot be decoded: the file is truncated") as error:
        load_image(Image.open(path), exif_orientation=exif_orientation)
    assert "exif_orientation=False" not in str(error.value)
    assert path.read_bytes() == data[: len(data) // 2]


@pytest.mark.parametrize("exif_orientation", [True, False])
def test_a_closed_pil_image_says_it_is_closed(tmp_path, rgb, exif_orientation):
    from PIL import Image

    (tmp_path / "x.png").write_bytes(_png(rgb))
    with Image.open(tmp_path / "x.png") as in_block:
        pass
    closed = Image.open(tmp_path / "x.png")
    closed.close()
    for image in (in_block, closed):
        with pytest.raises(ImageDecodeError, match=r"x\.png is closed; load it before closing it") as error:
            load_image(image, exif_orientation=exif_orientation)
        assert "exif_orientation=False" not in str(error.value)


@pytest.mark.parametrize("mode, made_from", [("La", "LA"), ("LA", "L"), ("PA", "P"), ("RGBa", "RGBA")])
def test_every_pil_mode_with_alpha_converts(mode, made_from):
    from PIL import Image

    image = Image.fromarray(np.full((3, 4), 200, np.uint8)).convert(made_from).convert(mode)
    out = load_image(image)
    assert out.shape == (3, 4, 3) and out.dtype == np.uint8 and int(out[0, 0, 0]) in (199, 200)


@pytest.mark.parametrize("mode, dtype", [("I;16B", ">u2"), ("I;16L", "<u2"), ("I;16", "<u2")])
def test_16_bit_pil_images_of_either_byte_order_keep_the_high_byte(mode, dtype):
    from PIL import Image

    image = Image.frombytes(mode, (4, 3), np.full((3, 4), 200 * 256 + 7, dtype).tobytes())
    assert int(load_image(image)[0, 0, 0]) == 200


@pytest.mark.parametrize(("array", "mode"), [(np.linspace(0, 1, 20, dtype=np.float32).reshape(4, 5), "F"),
                                             (np.arange(20, dtype=np.int32).reshape(4, 5) * 3000, "I")])
def test_float_and_32_bit_pil_images_are_refused_as_their_arrays_are(array, mode):
    from PIL import Image

    image = Image.fromarray(array)
    assert image.mode == mode
    with pytest.raises(ImageFormatError, match=rf"PIL image mode '{mode}' has 32-bit .* pixels, whose range"):
        load_image(image)
    with pytest.raises(ImageFormatError):
        load_image(array)
