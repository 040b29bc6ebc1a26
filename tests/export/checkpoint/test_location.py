"""locate_checkpoint: what --model names, found (and downloaded) before torch is needed; load_located builds it."""

from __future__ import annotations

import huggingface_hub.constants
import pytest

from beit_export.checkpoint import CheckpointLocation, load_located, locate_checkpoint
from beit_export.demo import checkpoint_dir
from beit_export.errors import ModelLoadError
from tests.conftest import save_model_folder
from tests.tiny_models import tiny_model


@pytest.fixture
def offline_empty_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))


def test_a_local_folder_and_a_demo_id_are_folders_without_a_revision(tmp_path):
    folder = save_model_folder(tiny_model("vit", "backbone"), tmp_path / "vit")
    local = locate_checkpoint(str(folder))
    assert (local.folder, local.preset, local.revision, local.random_init) == (folder, None, None, False)
    demo = locate_checkpoint("beit-deploy/demo-classification")
    assert demo.folder == checkpoint_dir("beit-deploy/demo-classification") and (demo.folder / "config.json").is_file()


def test_a_preset_is_used_only_with_random_init(offline_empty_cache):
    location = locate_checkpoint("microsoft/beit-base-patch16-224", random_init=True)
    assert location.folder is None and location.preset is not None
    assert location.preset.config["model_type"] == "beit"
    with pytest.raises(ModelLoadError, match="not in the local cache"):  # without --random-init: the real weights
        locate_checkpoint("microsoft/beit-base-patch16-224")


def test_random_init_of_a_local_folder_keeps_the_folder_and_loads_random_weights(tmp_path):
    folder = save_model_folder(tiny_model("vit", "image-classification"), tmp_path / "vit")
    location = locate_checkpoint(str(folder), random_init=True)
    assert location.folder == folder and location.random_init
    checkpoint = load_located(location, seed=3)
    assert checkpoint.source["random_init"] is True and checkpoint.task == "image-classification"


def test_names_that_cannot_be_found_fail_before_loading(tmp_path, offline_empty_cache):
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ModelLoadError, match="is a file"):
        locate_checkpoint(str(tmp_path / "file.txt"))
    with pytest.raises(ModelLoadError, match="no such folder"):
        locate_checkpoint(str(tmp_path / "missing" / "deeper"))
    with pytest.raises(ModelLoadError, match="has no built-in preset"):
        locate_checkpoint("someone/not-a-preset", random_init=True)


def test_a_location_with_nothing_to_load_names_locate_checkpoint():
    with pytest.raises(ModelLoadError, match="locate_checkpoint"):
        load_located(CheckpointLocation("someone/model"))


def test_a_revision_is_refused_for_a_folder_and_asks_the_hub_instead_of_a_preset(tmp_path, offline_empty_cache):
    folder = save_model_folder(tiny_model("vit", "backbone"), tmp_path / "vit")
    with pytest.raises(ModelLoadError, match="a local folder: drop --revision"):
        locate_checkpoint(str(folder), revision="v1")
    with pytest.raises(ModelLoadError, match=r"--revision v1.*Drop --revision to build the built-in preset"):
        locate_checkpoint("microsoft/beit-base-patch16-224", random_init=True, revision="v1")


def test_a_mistyped_relative_path_is_no_such_folder_not_a_hub_lookup(tmp_path, monkeypatch, offline_empty_cache):
    for name in ("beit_cls", "vit_cls", "resnet"):
        (tmp_path / "ckpts" / name).mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelLoadError) as caught:
        locate_checkpoint("ckpts/beit_clss")
    message = str(caught.value)
    assert message.startswith("--model ckpts/beit_clss: no such folder (ckpts/ is a folder here, so --model is read "
                              "as a path, not a hub id). Did you mean ckpts/beit_cls"), message
    assert "resnet" not in message and "cache" not in message
    with pytest.raises(ModelLoadError, match=r"no such folder .*\)\. Pass an existing"):  # nothing close: no guess
        locate_checkpoint("ckpts/vit_cls/zzz")
    with pytest.raises(ModelLoadError, match="not in the local cache"):  # no local folder of that name: the hub
        locate_checkpoint("someone/model")
