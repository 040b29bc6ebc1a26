"""EXIF orientation: load_image turns phone photos upright exactly as transformers' load_image does."""

from __future__ import annotations

import io

import numpy as np
import pytest
import skimage.data
from PIL import ExifTags, Image
from transformers.image_utils import load_image as hf_load_image

from beit_runtime.images import load_image

ORIENTATIONS = range(1, 9)
STORED_WIDTH, STORED_HEIGHT = 200, 300
ROTATED = {5, 6, 7, 8}  # these swap width and height


@pytest.fixture(scope="module")
def stored_pixels() -> np.ndarray:
    """A 300 (high) x 200 (wide) crop of a photo: no symmetry, so every turn and flip is visible."""
    return np.ascontiguousarray(skimage.data.astronaut()[50 : 50 + STORED_HEIGHT, 150 : 150 + STORED_WIDTH])


def _encoded(pixels: np.ndarray, orientation: int, *, fmt: str = "JPEG") -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    buffer = io.BytesIO()
    options = {"quality": 90} if fmt == "JPEG" else {}
    Image.fromarray(pixels).save(buffer, fmt, exif=exif, **options)
    return buffer.getvalue()


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_jpeg_matches_transformers_load_image(tmp_path, stored_pixels, orientation):
    path = tmp_path / f"orientation-{orientation}.jpg"
    path.write_bytes(_encoded(stored_pixels, orientation))
    expected = np.asarray(hf_load_image(str(path)))
    upright = (STORED_WIDTH, STORED_HEIGHT) if orientation in ROTATED else (STORED_HEIGHT, STORED_WIDTH)
    assert expected.shape == (*upright, 3)
    for source in (path, str(path), path.read_bytes()):
        np.testing.assert_array_equal(load_image(source), expected, err_msg=f"orientation {orientation}")


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_exif_orientation_false_keeps_the_stored_pixels(stored_pixels, orientation):
    data = _encoded(stored_pixels, orientation)
    stored = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    kept = load_image(data, exif_orientation=False)
    assert kept.shape == (STORED_HEIGHT, STORED_WIDTH, 3)
    np.testing.assert_array_equal(kept, stored)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_png_exif_and_pil_images_are_turned_too(stored_pixels, orientation):
    png = _encoded(stored_pixels, orientation, fmt="PNG")
    expected = np.asarray(hf_load_image(Image.open(io.BytesIO(png))))
    np.testing.assert_array_equal(load_image(png), expected)
    opened = Image.open(io.BytesIO(png))
    np.testing.assert_array_equal(load_image(opened), expected)
    np.testing.assert_array_equal(load_image(opened, exif_orientation=False), stored_pixels)


def test_arrays_are_never_turned(stored_pixels):
    np.testing.assert_array_equal(load_image(stored_pixels), stored_pixels)
    np.testing.assert_array_equal(load_image(stored_pixels, exif_orientation=True), stored_pixels)


def test_segmenter_label_map_has_the_upright_size(beit_segmentation_artifact, tmp_path, stored_pixels):
    from beit_runtime import Segmenter

    path = tmp_path / "phone.jpg"
    path.write_bytes(_encoded(stored_pixels, 6))
    with Segmenter(beit_segmentation_artifact) as segmenter:
        labels = segmenter(str(path)).labels
        direct = segmenter(load_image(path)).labels
    assert labels.shape == (STORED_WIDTH, STORED_HEIGHT)  # 300 wide, 200 high, as viewers show it
    np.testing.assert_array_equal(labels, direct)
    with Segmenter(beit_segmentation_artifact, exif_orientation=False) as segmenter:
        stored = segmenter(str(path)).labels
        np.testing.assert_array_equal(stored, segmenter(load_image(path, exif_orientation=False)).labels)
    assert stored.shape == (STORED_HEIGHT, STORED_WIDTH)


def test_classifier_option_reaches_image_loading(beit_classifier_artifact, tmp_path, stored_pixels):
    from beit_runtime import Classifier

    path = tmp_path / "phone.jpg"
    path.write_bytes(_encoded(stored_pixels, 8))
    with (
        Classifier(beit_classifier_artifact) as upright,
        Classifier(beit_classifier_artifact, exif_orientation=False) as kept,
    ):
        np.testing.assert_array_equal(upright.logits(str(path)), upright.logits(load_image(path)))
        np.testing.assert_array_equal(kept.logits(str(path)), kept.logits(load_image(path, exif_orientation=False)))
        assert not np.array_equal(upright.logits(str(path)), kept.logits(str(path)))
