"""Absolute position embeddings of a non-square image_size: exported at that size (where transformers' own forward
adds the stored table), refused in one line where transformers interpolates them as a square grid."""

from __future__ import annotations

import json

import pytest
import torch

from beit_export.errors import UnsupportedCheckpointError
from beit_export.modeling import make_export_module
from beit_export.pipeline import export_artifact
from tests.conftest import tiny_checkpoint
from tests.export.reference import example_inputs, max_abs
from tests.tiny_models import tiny_model

NON_SQUARE = {"image_size": [32, 64], "num_hidden_layers": 2}
PROCESSOR = {"image_processor_type": "ViTImageProcessor", "size": {"height": 32, "width": 64}}


@pytest.mark.parametrize("task", ["image-classification", "backbone"])
def test_vit_with_a_non_square_image_size_equals_hf_at_that_size(task):
    model = tiny_model("vit", task, **NON_SQUARE)
    module = make_export_module(model, task=task, dynamic_resolution=False)
    inputs = example_inputs(task, batch=2, height=32, width=64)
    with torch.no_grad():
        got = module(*inputs)
        expected = model(inputs[0])  # HF's native forward at the configured size: the stored table, not interpolated
    for name, ours in zip(module.output_names, got, strict=True):
        assert max_abs(ours, getattr(expected, name)) <= 1e-5, name


def test_vit_with_a_non_square_image_size_exports_with_parity(tmp_path):
    checkpoint = tiny_checkpoint("vit", "image-classification", processor_config=PROCESSOR, **NON_SQUARE)
    output = export_artifact(checkpoint, output=tmp_path / "vit-32x64")
    manifest = json.loads((output / "manifest.json").read_text())
    assert (manifest["input"]["height"], manifest["input"]["width"]) == (32, 64)
    assert manifest["graphs"]["fp32"]["inputs"][0]["shape"] == ["batch", 3, 32, 64]
    assert manifest["parity"]["fp32"]["passed"] is True


@pytest.mark.parametrize("dynamic", [False, True])
def test_a_non_square_table_at_another_size_is_refused_in_one_line(dynamic):
    model = tiny_model("vit", "image-classification", **NON_SQUARE)
    resolution = None if dynamic else (64, 64)
    with pytest.raises(UnsupportedCheckpointError) as caught:
        make_export_module(model, task="image-classification", dynamic_resolution=dynamic, resolution=resolution)
    message = str(caught.value)
    assert "4x8 patch grid, which transformers interpolates as a square one" in message and "\n" not in message
    assert ("--dynamic-resolution needs" if dynamic else "a 64x64 graph needs") in message
