"""load_image on arrays and values it cannot take: floats, signed, bool, wrong channels, shapes and types, each a
typed error that says what was expected (split from test_images.py)."""

from __future__ import annotations

import numpy as np
import pytest

from beit_runtime.errors import BeitDeployError, ImageDecodeError, ImageFormatError, InputError
from beit_runtime.images import load_image, to_rgb8


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (21, 34, 3), dtype=np.uint8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_float_arrays(dtype):
    with pytest.raises(ImageFormatError, match="float"):
        load_image(np.zeros((4, 4, 3), dtype=dtype))


def test_negative_arrays():
    with pytest.raises(ImageFormatError, match="negative"):
        load_image(np.full((4, 4, 3), -1, dtype=np.int16))


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64])
def test_signed_arrays(dtype):
    with pytest.raises(ImageFormatError, match="signed"):
        load_image(np.zeros((4, 4, 3), dtype=dtype))


def test_bool_arrays():
    with pytest.raises(ImageFormatError, match="dtype bool"):
        load_image(np.zeros((4, 4, 3), dtype=bool))


@pytest.mark.parametrize("channels", [2, 5, 6])
def test_wrong_channel_count(channels):
    with pytest.raises(ImageFormatError, match=f"{channels} channels"):
        load_image(np.zeros((4, 4, channels), dtype=np.uint8))


def test_channel_first_hint():
    with pytest.raises(ImageFormatError, match="channel-first"):
        load_image(np.zeros((3, 16, 16), dtype=np.uint8))


@pytest.mark.parametrize("shape", [(0, 4, 3), (4, 0, 3), (0, 0), (4, 4, 0)])
def test_zero_sized(shape):
    with pytest.raises(ImageFormatError):
        load_image(np.zeros(shape, dtype=np.uint8))


@pytest.mark.parametrize("shape", [(4,), (2, 4, 4, 3, 1)])
def test_wrong_rank(shape):
    with pytest.raises(ImageFormatError, match="dimensions"):
        load_image(np.zeros(shape, dtype=np.uint8))


@pytest.mark.parametrize("source", [None, 3, 2.5, [1, 2, 3], {"a": 1}, object()])
def test_wrong_types(source):
    with pytest.raises(ImageFormatError, match="cannot use"):
        load_image(source)


def test_bad_channel_order(rgb):
    with pytest.raises(InputError, match="channel_order"):
        load_image(rgb, channel_order="rgba")


def test_errors_are_package_errors_and_value_errors():
    with pytest.raises(BeitDeployError):
        to_rgb8(np.zeros((2, 2, 3), np.float32))
    with pytest.raises(ValueError):
        to_rgb8(np.zeros((2, 2, 3), np.float32))


def test_an_empty_path_is_named_as_empty():
    with pytest.raises(ImageDecodeError, match=r"^the image path is empty"):
        load_image("")
