"""Offline (HF_HUB_OFFLINE=1) exports from a hub cache that holds the weights under any of the names the hub
uses, written the way ``hf download`` leaves it: no ``.no_exist`` record of the files the repository lacks."""

from __future__ import annotations

import json

import pytest
from huggingface_hub import constants

from beit_export.checkpoint import load_located, locate_checkpoint
from beit_export.errors import ModelLoadError
from tests.conftest import save_model_folder
from tests.tiny_models import tiny_model

COMMIT = "2" * 40


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))

    def snapshot(repo_id: str, files: dict[str, bytes]):
        repo = tmp_path / "hub" / f"models--{repo_id.replace('/', '--')}"
        (repo / "refs").mkdir(parents=True)
        (repo / "refs" / "main").write_text(COMMIT)
        folder = repo / "snapshots" / COMMIT
        folder.mkdir(parents=True)
        for name, data in {"config.json": b"{}", "preprocessor_config.json": b"{}", **files}.items():
            (folder / name).write_bytes(data)
        return folder

    return snapshot


@pytest.mark.parametrize("weights", ["pytorch_model.bin", "model.safetensors.index.json",
                                     "pytorch_model.bin.index.json"])
def test_offline_uses_the_weight_file_the_cache_holds(offline_cache, weights):
    files = {weights: b"weights"}
    if weights.endswith(".index.json"):
        shard = weights.replace(".index.json", "").replace("model", "model-00001-of-00001", 1)
        files = {weights: json.dumps({"weight_map": {"a.weight": shard}}).encode(), shard: b"shard"}
    folder = offline_cache("me/tiny", files)
    location = locate_checkpoint("me/tiny")
    assert location.folder == folder and location.revision == COMMIT


def test_offline_names_every_weight_file_looked_for(offline_cache):
    offline_cache("me/config-only", {})
    with pytest.raises(ModelLoadError) as caught:
        locate_checkpoint("me/config-only")
    message = str(caught.value)
    assert "none of the weight files of me/config-only (default branch) is in the local cache" in message
    assert "model.safetensors, model.safetensors.index.json, pytorch_model.bin, pytorch_model.bin.index.json" in message
    assert "--model" in message


def test_offline_names_a_shard_missing_from_the_cache(offline_cache):
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    offline_cache("me/half", {"model.safetensors.index.json": json.dumps(index).encode(),
                              "model-00001-of-00002.safetensors": b"shard"})
    with pytest.raises(ModelLoadError, match=r"OFFLINE=1 is set and model-00002-of-00002.safetensors of me/half"):
        locate_checkpoint("me/half")


def test_a_cached_sharded_snapshot_exports_offline(offline_cache, tmp_path):
    source = save_model_folder(tiny_model("vit", "image-classification"), tmp_path / "src")
    model = tiny_model("vit", "image-classification")
    model.save_pretrained(tmp_path / "sharded", max_shard_size="20KB")
    files = {path.name: path.read_bytes() for path in (tmp_path / "sharded").iterdir() if path.name != "config.json"}
    assert "model.safetensors.index.json" in files
    folder = offline_cache("me/sharded", {**files, "preprocessor_config.json":
                                          (source / "preprocessor_config.json").read_bytes()})
    (folder / "config.json").write_bytes((tmp_path / "sharded" / "config.json").read_bytes())
    checkpoint = load_located(locate_checkpoint("me/sharded"))
    assert checkpoint.task == "image-classification"
