"""--model resolution: local folders (safetensors, bin), presets with --random-init, hub ids offline, bad values."""

from __future__ import annotations

import json

import huggingface_hub.constants
import pytest
import torch

from beit_export.checkpoint import checkpoint_from_model, load_checkpoint
from beit_export.errors import ModelLoadError, UnsupportedCheckpointError
from tests.conftest import BEIT_PROCESSOR_CONFIG, save_model_folder
from tests.tiny_models import tiny_model


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def beit_folder(tmp_path_factory):
    model = tiny_model("beit", "image-classification")
    return save_model_folder(model, tmp_path_factory.mktemp("models") / "beit"), model


def test_local_safetensors_folder(beit_folder):
    folder, original = beit_folder
    checkpoint = load_checkpoint(str(folder))
    assert _same_weights(checkpoint.model, original)
    assert checkpoint.task == "image-classification" and not checkpoint.model.training
    assert checkpoint.source == {"model": str(folder), "revision": None, "architecture": "BeitForImageClassification",
                                 "model_type": "beit", "random_init": False}
    assert checkpoint.preprocessing["size"] == {"height": 32, "width": 32}
    assert checkpoint.preprocessing["resample"] == "bilinear"
    assert checkpoint.labels == {str(i): f"class_{i}" for i in range(10)}


def test_local_bin_folder_loads_with_weights_only(tmp_path):
    original = tiny_model("vit", "backbone")
    folder = save_model_folder(original, tmp_path / "vit", safe=False)
    assert (folder / "pytorch_model.bin").is_file() and not (folder / "model.safetensors").exists()
    checkpoint = load_checkpoint(str(folder))
    assert _same_weights(checkpoint.model, original)
    assert checkpoint.task == "backbone" and checkpoint.labels is None
    assert checkpoint.preprocessing["do_center_crop"] and checkpoint.preprocessing["resample"] == "bicubic"


def test_task_override(beit_folder):
    folder, _ = beit_folder
    assert load_checkpoint(str(folder), task="backbone").task == "backbone"
    with pytest.raises(UnsupportedCheckpointError, match="--task backbone"):
        load_checkpoint(str(folder), task="masked-image-modeling")


def test_missing_preprocessor_config_uses_class_defaults_at_model_size(tmp_path):
    folder = save_model_folder(tiny_model("beit", "backbone"), tmp_path / "m")
    (folder / "preprocessor_config.json").unlink()
    checkpoint = load_checkpoint(str(folder))
    recipe = checkpoint.preprocessing
    assert recipe["size"] == {"height": 32, "width": 32}
    assert recipe["resample"] == "bicubic"  # BeitImageProcessor's class default
    assert recipe["image_mean"] == [0.5] * 3 and not recipe["do_center_crop"]
    # said, not silent: the export prints the notes as progress lines
    assert checkpoint.notes == (
        f"{folder} has no preprocessor_config.json: preprocessing uses BeitImageProcessor's class defaults at "
        "config.json's image_size 32x32 (resample bicubic, mean [0.5, 0.5, 0.5], std [0.5, 0.5, 0.5]); add the "
        "checkpoint's preprocessor_config.json if it was trained with another recipe",
    )
    assert save_model_folder(tiny_model("beit", "backbone"), tmp_path / "with").is_dir()
    assert load_checkpoint(str(tmp_path / "with")).notes == ()


def test_legacy_preprocessor_keys(tmp_path):
    legacy = {"feature_extractor_type": "BeitFeatureExtractor", "size": 32, "crop_size": 32, "resample": 2,
              "do_center_crop": False, "reduce_labels": True, "image_mean": [0.5] * 3, "image_std": [0.5] * 3}
    folder = save_model_folder(tiny_model("beit", "semantic-segmentation"), tmp_path / "m", processor_config=legacy)
    checkpoint = load_checkpoint(str(folder))
    assert checkpoint.task == "semantic-segmentation"
    assert checkpoint.preprocessing["size"] == {"height": 32, "width": 32}
    assert checkpoint.preprocessing["do_reduce_labels"] is True


def test_random_init_from_preset_draws_zero_initialised_tensors():
    checkpoint = load_checkpoint("microsoft/beit-base-patch16-224", random_init=True)
    assert checkpoint.task == "image-classification" and len(checkpoint.labels) == 1000
    assert checkpoint.source["random_init"] is True
    assert checkpoint.source["architecture"] == "BeitForImageClassification"
    tables = [p for n, p in checkpoint.model.named_parameters() if n.endswith("relative_position_bias_table")]
    assert len(tables) == 12 and all(table.abs().sum() > 0 for table in tables)
    assert checkpoint.preprocessing["resample"] == "bilinear"


def test_random_init_from_local_config_only(tmp_path):
    folder = save_model_folder(tiny_model("beit", "masked-image-modeling", shared_bias=True), tmp_path / "m")
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="--random-init"):
        load_checkpoint(str(folder))
    checkpoint = load_checkpoint(str(folder), random_init=True, seed=3)
    assert checkpoint.task == "masked-image-modeling" and checkpoint.source["random_init"]


def test_unknown_preset_with_random_init(monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # a hub-like id: no network retries
    with pytest.raises(ModelLoadError, match="microsoft/beit-base-patch16-224"):
        load_checkpoint("someone/not-a-preset", random_init=True)


def test_bad_model_values(tmp_path):
    with pytest.raises(ModelLoadError, match="no such folder"):
        load_checkpoint(str(tmp_path / "missing" / "deeper"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match=r"no config\.json"):
        load_checkpoint(str(tmp_path / "empty"))
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ModelLoadError, match="is a file"):
        load_checkpoint(str(tmp_path / "file.txt"))


def test_corrupt_weights(tmp_path):
    folder = save_model_folder(tiny_model("vit", "image-classification"), tmp_path / "m")
    (folder / "model.safetensors").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ModelLoadError, match="corrupt"):
        load_checkpoint(str(folder))


def test_unsupported_architecture(tmp_path):
    folder = tmp_path / "bert"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    with pytest.raises(UnsupportedCheckpointError, match="BEiT, ViT and DeiT"):
        load_checkpoint(str(folder))
    mim_config = {"model_type": "vit", "architectures": ["ViTForMaskedImageModeling"]}
    (folder / "config.json").write_text(json.dumps(mim_config))
    with pytest.raises(UnsupportedCheckpointError, match="ViTForMaskedImageModeling"):
        load_checkpoint(str(folder), random_init=True)


def test_offline_hub_id_not_cached(tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ModelLoadError) as error:
        load_checkpoint("microsoft/beit-base-patch16-224")
    message = str(error.value)
    assert "--random-init" in message and "local folder" in message and "cache" in message


def test_checkpoint_from_model_defaults():
    checkpoint = checkpoint_from_model(tiny_model("vit", "image-classification"))
    assert checkpoint.task == "image-classification" and checkpoint.source["model"] == "in-memory"
    assert checkpoint.preprocessing["size"] == {"height": 32, "width": 32}
    assert checkpoint_from_model(tiny_model("beit", "image-classification"), task="backbone").task == "backbone"
    assert BEIT_PROCESSOR_CONFIG["resample"] == 2


def test_checkpoint_from_model_in_fp16_exports_the_fp32_reference(tmp_path):
    """A model loaded with dtype=torch.float16 exports as the CLI exports it: from fp32 weights, parity passing;
    the caller's model stays fp16."""
    from beit_export.pipeline import export_artifact

    model = tiny_model("vit", "image-classification").half()
    checkpoint = checkpoint_from_model(model)
    folder = export_artifact(checkpoint, output=tmp_path / "artifact")
    assert json.loads((folder / "manifest.json").read_text())["parity"]["fp32"]
    assert {p.dtype for p in checkpoint.model.parameters()} == {torch.float32}
    assert {p.dtype for p in model.parameters()} == {torch.float16}


def test_weights_that_do_not_fit_the_config(tmp_path):
    folder = save_model_folder(tiny_model("beit", "backbone"), tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    config["architectures"] = ["BeitForImageClassification"]  # the weights have no classifier head
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="classifier"):
        load_checkpoint(str(folder))


def test_vit_backbone_without_pooler_weights(tmp_path):
    from transformers import ViTModel

    from tests.tiny_models import tiny_vit_config

    torch.manual_seed(0)
    original = ViTModel(tiny_vit_config(), add_pooling_layer=False).eval()  # as DINO checkpoints are saved
    folder = save_model_folder(original, tmp_path / "dino-like")
    checkpoint = load_checkpoint(str(folder))
    assert checkpoint.task == "backbone" and checkpoint.model.pooler is None
    assert _same_weights(checkpoint.model, original)
