"""The model card's own use, end to end: microsoft/beit-large-patch16-224-pt22k as BeitForMaskedImageModeling.

Export the checkpoint (a preset with random weights: the hub is unreachable here), then predict the
visual tokens of a photo with patches masked through ``beit_runtime.MaskedImageModeler``; they must be
the token ids ``BeitForMaskedImageModeling`` predicts for the same photo preprocessed by the HF
processor. The large model is a ``slow`` test; the default suite runs the same architecture scaled down
(shared relative position bias, mask token, an 8192-token vocabulary).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from beit_export.checkpoint import load_checkpoint
from beit_export.options import ExportOptions
from beit_export.parity import hf_preprocess, sample_photos
from beit_export.pipeline import export_artifact
from beit_runtime import MaskedImageModeler
from tests.conftest import tiny_checkpoint

MODEL_CARD_ID = "microsoft/beit-large-patch16-224-pt22k"


def _masks(count: int, patches: int) -> np.ndarray:
    return np.random.default_rng(7).random((count, patches)) < 0.4


def _tokens_from_transformers(checkpoint, images, masks) -> np.ndarray:
    pixels = hf_preprocess(images, checkpoint.preprocessing, model_type="beit")
    with torch.no_grad():
        logits = checkpoint.model(pixel_values=pixels, bool_masked_pos=torch.from_numpy(masks)).logits
    return logits.argmax(-1).numpy()


def _check_model_card_use(checkpoint, output) -> None:
    folder = export_artifact(checkpoint, output=output, options=ExportOptions(photos=False))
    photos = [image for _, image in sample_photos(("chelsea", "coffee"))]
    with MaskedImageModeler(folder) as modeler:
        masks = _masks(len(photos), modeler.num_patches)
        tokens = modeler(photos, masks)
        single = modeler(photos[0], masks[0])
    expected = _tokens_from_transformers(checkpoint, photos, masks)
    assert tokens.shape == expected.shape == (2, modeler.num_patches)
    np.testing.assert_array_equal(tokens, expected)
    np.testing.assert_array_equal(single, expected[0])
    assert int(expected.max()) < checkpoint.config.vocab_size


def test_scaled_down_model_card_architecture(tmp_path):
    checkpoint = tiny_checkpoint("beit", "masked-image-modeling", shared_bias=True, vocab_size=8192)
    assert checkpoint.config.use_shared_relative_position_bias and checkpoint.config.use_mask_token
    _check_model_card_use(checkpoint, tmp_path / "mim")


@pytest.mark.slow
def test_model_card_checkpoint_end_to_end(tmp_path):
    checkpoint = load_checkpoint(MODEL_CARD_ID, random_init=True)
    assert checkpoint.task == "masked-image-modeling" and checkpoint.config.hidden_size == 1024
    _check_model_card_use(checkpoint, tmp_path / "pt22k")

