"""MaskedImageModeler vs transformers' BeitForMaskedImageModeling; mask validation."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image
from transformers import BeitImageProcessorPil

from beit_runtime import MaskedImageModeler
from beit_runtime.errors import InputError
from tests.conftest import BEIT_PROCESSOR_CONFIG
from tests.tiny_models import tiny_model

NUM_PATCHES = 16  # 32x32 input, 8x8 patches


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    return [np.ascontiguousarray(getattr(skimage.data, name)()) for name in ("chelsea", "rocket", "astronaut")]


@pytest.fixture(scope="module")
def masks() -> np.ndarray:
    return np.random.default_rng(0).random((3, NUM_PATCHES)) < 0.4


def test_token_ids_match_transformers(beit_mim_artifact, photos, masks):
    processor = BeitImageProcessorPil(**{k: v for k, v in BEIT_PROCESSOR_CONFIG.items() if k != "image_processor_type"})
    pixels = processor(images=photos, return_tensors="pt", input_data_format="channels_last")["pixel_values"]
    model = tiny_model("beit", "masked-image-modeling", shared_bias=True)
    with torch.no_grad():
        expected = model(pixel_values=pixels, bool_masked_pos=torch.from_numpy(masks)).logits.numpy()
    with MaskedImageModeler(beit_mim_artifact, batch_size=2) as modeler:
        assert modeler.num_patches == NUM_PATCHES
        logits = modeler.logits(photos, masks)
        ids = modeler.predict(photos, masks)
        one = modeler(photos[0], masks[0])
    np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=0)
    assert ids.shape == (3, NUM_PATCHES)
    confident = np.sort(expected, axis=-1)[..., -1] - np.sort(expected, axis=-1)[..., -2] > 1e-3
    np.testing.assert_array_equal(ids[confident], expected.argmax(-1)[confident])
    np.testing.assert_array_equal(one, ids[0])


def test_masks_change_the_prediction(beit_mim_artifact, photos):
    with MaskedImageModeler(beit_mim_artifact) as modeler:
        none = modeler.logits(photos[0], np.zeros(NUM_PATCHES, bool))
        every = modeler.logits(photos[0], np.ones(NUM_PATCHES, bool))
    assert np.abs(none - every).max() > 1e-3


@pytest.mark.parametrize(
    "masks, message",
    [
        (np.zeros(NUM_PATCHES, dtype=np.int64), "boolean"),
        (np.zeros(NUM_PATCHES + 1, dtype=bool), "expected \\(16,\\)"),
        (np.zeros((2, NUM_PATCHES), dtype=bool), "expected \\(16,\\)"),
    ],
)
def test_bad_masks_for_one_image(beit_mim_artifact, photos, masks, message):
    with MaskedImageModeler(beit_mim_artifact) as modeler, pytest.raises(InputError, match=message):
        modeler.predict(photos[0], masks)


def test_mask_count_must_match_images(beit_mim_artifact, photos):
    with MaskedImageModeler(beit_mim_artifact) as modeler, pytest.raises(InputError, match="expected \\(2, 16\\)"):
        modeler.predict(photos[:2], np.zeros((3, NUM_PATCHES), dtype=bool))


def test_masks_follow_each_images_patch_grid_on_aspect_preserving_artifacts(aspect_mim_artifact, capsys, tmp_path):
    """shortest_edge 32, no crop, --dynamic-resolution: a 90x120 image is a 32x42 tensor, a 4x5 patch grid."""
    from transformers import BeitImageProcessorPil

    from beit_runtime.cli import main as beit_run
    from beit_runtime.errors import ImageFormatError
    from tests.runtime.conftest import ASPECT_RECIPE

    image = np.ascontiguousarray(skimage.data.chelsea()[::3, ::3][:90, :120])
    square = np.ascontiguousarray(skimage.data.chelsea()[:64, :64])
    processor = BeitImageProcessorPil(**{k: v for k, v in ASPECT_RECIPE.items() if k != "image_processor_type"})
    pixels = processor(images=[image], return_tensors="pt", input_data_format="channels_last")["pixel_values"]
    mask = np.random.default_rng(1).random(20) < 0.4
    with torch.no_grad():
        expected = tiny_model("beit", "masked-image-modeling", shared_bias=True)(
            pixel_values=pixels, bool_masked_pos=torch.from_numpy(mask[None])).logits[0].numpy()
    with MaskedImageModeler(aspect_mim_artifact) as modeler:
        assert modeler.patch_grid(image) == (4, 5) and modeler.default_mask(image).shape == (20,)
        np.testing.assert_allclose(modeler.logits(image, mask), expected, atol=1e-4, rtol=0)
        with pytest.raises(InputError, match=r"expected \(20,\).*4x5"):
            modeler.predict(image, np.zeros(16, bool))
        with pytest.raises(InputError, match="patch_grid"):
            modeler.num_patches  # noqa: B018
        with pytest.raises(ImageFormatError, match="different patch grids"):
            modeler.predict([image, square], [np.zeros(20, bool), np.zeros(16, bool)])
    path = tmp_path / "wide.png"
    Image.fromarray(image).save(path)
    assert beit_run([str(aspect_mim_artifact), str(path)]) == 0
    assert "20 visual tokens" in capsys.readouterr().out
