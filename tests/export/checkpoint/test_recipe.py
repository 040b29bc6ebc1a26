"""A --model folder's preprocessor_config.json: only the BEiT/ViT/DeiT processor classes are reproduced, and a value
transformers cannot use or the runtime refuses is a one-line typed error naming the file and the field, at load
time (before any graph is exported)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from beit_export.checkpoint import load_checkpoint
from beit_export.errors import CheckpointConfigError, UnsupportedCheckpointError
from tests.conftest import save_model_folder
from tests.tiny_models import tiny_model

SIZE = {"height": 32, "width": 32}


@pytest.fixture(scope="module")
def vit_folder(tmp_path_factory) -> Path:
    return save_model_folder(tiny_model("vit", "image-classification", num_hidden_layers=1),
                             tmp_path_factory.mktemp("m") / "vit")


def _with_processor(source: Path, target: Path, processor_config: dict) -> Path:
    target.mkdir()
    for path in source.iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    (target / "preprocessor_config.json").write_text(json.dumps(processor_config))
    return target


def test_processor_classes_of_other_families_are_refused(tmp_path, vit_folder):
    convnext = {"image_processor_type": "ConvNextImageProcessor", "size": {"shortest_edge": 32}, "crop_pct": 0.875,
                "resample": 3, "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}
    folder = _with_processor(vit_folder, tmp_path / "convnext", convnext)
    with pytest.raises(UnsupportedCheckpointError) as caught:
        load_checkpoint(str(folder))
    message = str(caught.value)
    assert str(folder / "preprocessor_config.json") in message
    assert "image_processor_type 'ConvNextImageProcessor' is not supported" in message
    assert all(name in message for name in ("BeitImageProcessor", "ViTImageProcessor", "DeiTImageProcessor"))
    assert "\n" not in message
    for name in ("ViTImageProcessorFast", "BeitImageProcessor", "DeiTFeatureExtractor"):  # the families it reproduces
        folder = _with_processor(vit_folder, tmp_path / name, {"image_processor_type": name, "size": SIZE})
        assert load_checkpoint(str(folder)).preprocessing["size"] == SIZE


@pytest.mark.parametrize(("values", "expected"), [
    ({"image_std": [0.5, 0.0, 0.5]}, r"'image_std' must be non-zero, got \[0\.5, 0\.0, 0\.5\]"),
    ({"rescale_factor": -0.0039}, r"'rescale_factor' must be a finite number > 0 .* got -0\.0039"),
    ({"size": {"height": -32, "width": 32}}, r"'size' values must be positive integers"),
])
def test_values_the_runtime_refuses_are_refused_at_load(tmp_path, vit_folder, values, expected):
    folder = _with_processor(vit_folder, tmp_path / "m", {"image_processor_type": "ViTImageProcessor", "size": SIZE,
                                                          **values})
    with pytest.raises(CheckpointConfigError, match=expected) as caught:
        load_checkpoint(str(folder))
    message = str(caught.value)
    assert message.startswith(f"{folder / 'preprocessor_config.json'}: ") and "fix that field" in message
    assert "re-export" not in message and "\n" not in message


@pytest.mark.parametrize(("values", "expected"), [
    ({"resample": "bicubic"}, r"resample is 'bicubic'; expected a PIL resampling code: 0 \(nearest\), 2 \(bilinear\)"),
    ({"size": {"height": 32}}, r"size must have one of the following set of keys"),
    ({"image_mean": [0.5, 0.5]}, r"image_mean is \(0\.5, 0\.5\); expected 3 per-channel numbers"),
    ({"do_resize": "no"}, r"do_resize is 'no'; expected true or false"),
    ({"rescale_factor": "1/255"}, r"rescale_factor is '1/255'; expected a number"),
])
def test_malformed_values_name_the_file_and_the_field(tmp_path, vit_folder, values, expected):
    folder = _with_processor(vit_folder, tmp_path / "m", {"size": SIZE, **values})
    with pytest.raises(CheckpointConfigError, match=expected) as caught:
        load_checkpoint(str(folder))
    assert str(caught.value).startswith(f"{folder / 'preprocessor_config.json'}: ")
    assert "\n" not in str(caught.value)
