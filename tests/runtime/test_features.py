"""FeatureExtractor vs transformers' processor + BeitModel on real photos."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import torch
from transformers import BeitImageProcessorPil

from beit_runtime import FeatureExtractor
from beit_runtime.features import Features
from tests.conftest import BEIT_PROCESSOR_CONFIG
from tests.tiny_models import tiny_model

PHOTOS = ("astronaut", "coffee", "rocket")


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    return [np.ascontiguousarray(getattr(skimage.data, name)()) for name in PHOTOS]


@pytest.fixture(scope="module")
def reference(photos):
    processor = BeitImageProcessorPil(**{k: v for k, v in BEIT_PROCESSOR_CONFIG.items() if k != "image_processor_type"})
    pixels = processor(images=photos, return_tensors="pt", input_data_format="channels_last")["pixel_values"]
    with torch.no_grad():
        outputs = tiny_model("beit", "backbone")(pixel_values=pixels)
    return outputs.pooler_output.numpy(), outputs.last_hidden_state.numpy()


def test_pooled_embeddings_match_transformers(beit_backbone_artifact, photos, reference):
    pooled, _ = reference
    with FeatureExtractor(beit_backbone_artifact, batch_size=2) as extractor:
        embeddings = extractor.extract(photos)
        single = extractor(photos[0])
    assert embeddings.shape == pooled.shape and embeddings.dtype == np.float32
    np.testing.assert_allclose(embeddings, pooled, atol=1e-4, rtol=0)
    assert single.shape == (pooled.shape[1],)
    np.testing.assert_allclose(single, embeddings[0], atol=1e-5)


def test_patch_tokens_on_request(beit_backbone_artifact, photos, reference):
    pooled, hidden = reference
    with FeatureExtractor(beit_backbone_artifact) as extractor:
        features = extractor.extract(photos, patch_tokens=True)
        one = extractor.extract(photos[1], patch_tokens=True)
    assert isinstance(features, Features)
    assert features.patch_tokens.shape == (len(photos), 16, hidden.shape[2])  # 32x32 input, 8x8 patches
    np.testing.assert_allclose(features.patch_tokens, hidden[:, 1:], atol=1e-4, rtol=0)
    np.testing.assert_allclose(features.cls_token, hidden[:, 0], atol=1e-4, rtol=0)
    np.testing.assert_allclose(features.pooled, pooled, atol=1e-4, rtol=0)
    assert one.patch_tokens.shape == (16, hidden.shape[2]) and one.pooled.shape == (hidden.shape[2],)
