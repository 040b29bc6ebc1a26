"""Turn whatever a user passes as "an image" into an HxWx3 uint8 RGB array, or raise a typed error.

Accepted sources:

- a path (``str`` / ``os.PathLike``) or encoded bytes (``bytes``, ``bytearray``, ``memoryview``) of
  any format OpenCV decodes (JPEG, PNG, BMP, TIFF, WebP...). Files are read and decoded with
  ``cv2.imdecode(..., IMREAD_UNCHANGED)`` (OpenCV's BGR order is converted to RGB; EXIF orientation
  is not applied, like ``PIL.Image.open``);
- numpy arrays: uint8 HxWx3 (RGB by default, ``channel_order="bgr"`` for OpenCV frames), HxWx4
  (alpha dropped; BGRA with ``"bgr"``), grayscale HxW or HxWx1 (replicated to three channels);
- uint16 arrays and 16-bit files are reduced to 8 bits by keeping the high byte (``v >> 8``), which
  is what Pillow does when it opens a 16-bit colour PNG (for 16-bit *grayscale* Pillow clips at
  255 instead, which whitens almost every pixel; that is deliberately not copied);
- a PIL image (duck-typed; Pillow is not imported): converted through ``numpy.asarray``.

Anything else raises ``ImageDecodeError`` (unreadable path or buffer) or ``ImageFormatError``
(unsupported type, dtype, shape, channel count, negative or empty data).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .errors import ImageDecodeError, ImageFormatError, InputError

CHANNEL_ORDERS = ("rgb", "bgr")
_PIL_DIRECT_MODES = ("RGB", "RGBA", "L", "I;16")


def check_channel_order(channel_order: str) -> str:
    if channel_order not in CHANNEL_ORDERS:
        raise InputError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
    return channel_order


def load_image(source: Any, *, channel_order: str = "rgb") -> np.ndarray:
    """Decode/validate one image; returns a C-contiguous HxWx3 uint8 RGB array."""
    check_channel_order(channel_order)
    if isinstance(source, (str, os.PathLike)):
        return _from_decoded(decode_bytes(_read_file(Path(source)), origin=str(source)))
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _from_decoded(decode_bytes(bytes(source), origin="the given bytes"))
    if isinstance(source, np.ndarray):
        return to_rgb8(source, channel_order=channel_order)
    if hasattr(source, "getbands") and hasattr(source, "mode"):
        return _from_pil(source)
    raise ImageFormatError(
        f"cannot use a {type(source).__name__} as an image; pass a file path, encoded bytes, "
        "a numpy uint8 array (HxWx3, HxWx4, HxW) or a PIL image"
    )


def _read_file(path: Path) -> bytes:
    if not path.exists():
        raise ImageDecodeError(f"image file {path} does not exist; check the path")
    if path.is_dir():
        raise ImageDecodeError(f"{path} is a directory, expected an image file (pass the files inside it)")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ImageDecodeError(f"cannot read image file {path}: {error}") from error
    if not data:
        raise ImageDecodeError(f"image file {path} is empty (0 bytes); re-create or re-download it")
    return data


def decode_bytes(data: bytes, *, origin: str = "the given bytes") -> np.ndarray:
    """Decode an encoded image with OpenCV; returns its array in OpenCV's channel order (BGR/BGRA)."""
    if not data:
        raise ImageDecodeError(f"{origin}: empty buffer, expected an encoded image (JPEG, PNG, ...)")
    buffer = np.frombuffer(data, dtype=np.uint8)
    try:
        decoded = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    except cv2.error as error:
        raise ImageDecodeError(f"{origin} could not be decoded as an image: {error}") from error
    if decoded is None or decoded.size == 0:
        raise ImageDecodeError(
            f"{origin} is not a decodable image (corrupt, truncated, or a format OpenCV cannot read)"
        )
    return decoded


def _from_decoded(decoded: np.ndarray) -> np.ndarray:
    if decoded.dtype not in (np.uint8, np.uint16):
        raise ImageFormatError(
            f"decoded image has {decoded.dtype} pixels (HDR/float formats are not supported); "
            "convert it to an 8- or 16-bit PNG or JPEG"
        )
    return to_rgb8(decoded, channel_order="bgr")


def _from_pil(image: Any) -> np.ndarray:
    if image.mode not in _PIL_DIRECT_MODES:
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    return to_rgb8(np.asarray(image), channel_order="rgb")


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
