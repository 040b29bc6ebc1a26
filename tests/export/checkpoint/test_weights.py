"""A config.json without "architectures": the task is read from the weights' head names; and a load never drops
stored weights silently (transformers only logs them as UNEXPECTED)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from beit_export.checkpoint import load_checkpoint
from beit_export.errors import CheckpointConfigError, UnsupportedCheckpointError
from tests.conftest import save_model_folder
from tests.tiny_models import tiny_model

TINY = {"num_hidden_layers": 1}


def _without_architectures(folder: Path) -> Path:
    config = json.loads((folder / "config.json").read_text())
    config.pop("architectures", None)  # (a pickled save writes none)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize(("model_type", "task", "architecture", "extra"), [
    ("vit", "image-classification", "ViTForImageClassification", TINY),
    ("beit", "semantic-segmentation", "BeitForSemanticSegmentation", {}),  # UperNet reads 4 layers
    ("beit", "masked-image-modeling", "BeitForMaskedImageModeling", {**TINY, "out_indices": [1]}),
])
def test_the_task_of_a_config_without_architectures_is_read_from_the_weights(tmp_path, model_type, task,
                                                                              architecture, extra):
    original = tiny_model(model_type, task, **extra)
    folder = _without_architectures(save_model_folder(original, tmp_path / "m"))
    checkpoint = load_checkpoint(str(folder))
    assert checkpoint.task == task and checkpoint.source["architecture"] == architecture
    assert _same_weights(checkpoint.model, original)
    assert any("names no architecture" in note and architecture in note for note in checkpoint.notes)


def test_a_pickled_classifier_without_architectures_keeps_its_head(tmp_path):
    original = tiny_model("vit", "image-classification", **TINY)
    folder = _without_architectures(save_model_folder(original, tmp_path / "m", safe=False))
    checkpoint = load_checkpoint(str(folder))
    assert checkpoint.task == "image-classification" and _same_weights(checkpoint.model, original)


def test_weights_a_model_would_leave_unused_are_refused_naming_the_task(tmp_path):
    folder = save_model_folder(tiny_model("vit", "image-classification", **TINY), tmp_path / "m")
    harmless = {"vit.pooler.dense.weight": torch.zeros(32, 32), "vit.pooler.dense.bias": torch.zeros(32),
                "vit.embeddings.mask_token": torch.zeros(1, 1, 32)}  # saved by other heads; unused here, harmless
    save_file({**load_file(folder / "model.safetensors"), **harmless}, folder / "model.safetensors")
    assert load_checkpoint(str(folder)).task == "image-classification"
    config = json.loads((folder / "config.json").read_text())
    config["architectures"] = ["ViTModel"]  # a backbone class over a classifier's weights
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointConfigError) as caught:
        load_checkpoint(str(folder))
    message = str(caught.value)
    assert "2 parameter(s) a ViTModel built from its config.json does not use (classifier.*)" in message, message
    assert ("they are the image-classification head, and config.json's architectures names ViTModel: correct it, or "
            "remove it and pass --task image-classification") in message and "\n" not in message
    # asked for on purpose: --task backbone leaves the head out
    assert load_checkpoint(str(_without_architectures(folder)), task="backbone").task == "backbone"


def test_a_head_in_weights_whose_names_cannot_be_listed_is_refused_naming_the_task(tmp_path):
    original = tiny_model("vit", "image-classification", **TINY)
    folder = _without_architectures(save_model_folder(original, tmp_path / "m", safe=False))
    # the legacy (pre-zip) pickle format: its names are only known by loading it, so the load finds the head unused
    torch.save(original.state_dict(), folder / "pytorch_model.bin", _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointConfigError, match=r"a ViTModel built from its config.json does not use "
                                                    r"\(classifier\.\*\), .* pass --task image-classification"):
        load_checkpoint(str(folder))
    checkpoint = load_checkpoint(str(folder), task="image-classification")
    assert checkpoint.task == "image-classification" and _same_weights(checkpoint.model, original)


def test_heads_of_several_tasks_without_architectures_are_refused(tmp_path):
    classifier = tiny_model("beit", "image-classification", out_indices=[1], **TINY)
    folder = _without_architectures(save_model_folder(classifier, tmp_path / "m"))
    weights = load_file(folder / "model.safetensors")
    save_file({**weights, "lm_head.weight": torch.zeros(64, 32)}, folder / "model.safetensors")
    with pytest.raises(UnsupportedCheckpointError, match=r"heads of several tasks \(classifier\.\*, lm_head\.\*\): "
                                                         r"pass --task with one of"):
        load_checkpoint(str(folder))


@pytest.mark.parametrize(("class_name", "task"), [
    ("DeiTForImageClassification", "image-classification"),
    ("DeiTForImageClassificationWithTeacher", "image-classification"),  # cls_classifier + distillation_classifier
    ("DeiTModel", "backbone"),
])
def test_deit_weights_without_architectures_name_their_class(tmp_path, class_name, task):
    original = tiny_model("deit", task, class_name=class_name, **TINY)
    folder = _without_architectures(save_model_folder(original, tmp_path / "m"))
    checkpoint = load_checkpoint(str(folder))
    assert (checkpoint.task, checkpoint.source["architecture"]) == (task, class_name)
    assert _same_weights(checkpoint.model, original)
    assert any("names no architecture" in note and class_name in note for note in checkpoint.notes)
    asked = load_checkpoint(str(folder), task=task)  # --task of the same head: the weights still pick the class
    assert asked.source["architecture"] == class_name and _same_weights(asked.model, original)


def test_deit_heads_and_pooler_are_known_under_the_deit_prefix(tmp_path):
    for class_name in ("DeiTForImageClassification", "DeiTForImageClassificationWithTeacher"):
        original = tiny_model("deit", "image-classification", class_name=class_name, **TINY)
        folder = _without_architectures(save_model_folder(original, tmp_path / class_name))
        pooler = {"deit.pooler.dense.weight": torch.zeros(32, 32), "deit.pooler.dense.bias": torch.zeros(32)}
        save_file({**load_file(folder / "model.safetensors"), **pooler}, folder / "model.safetensors")  # harmless
        assert load_checkpoint(str(folder)).source["architecture"] == class_name
        backbone = load_checkpoint(str(folder), task="backbone")  # the head(s) left out on purpose
        assert (backbone.task, backbone.source["architecture"]) == ("backbone", "DeiTModel")
