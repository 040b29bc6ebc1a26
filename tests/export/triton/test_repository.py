"""``beit-export triton``: the repository's files, the beit_runtime copy, staging, and the CLI's exit codes."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from beit_export.cli import main
from beit_export.triton import repository
from beit_export.triton.vendoring import PACKAGE_DIR, runtime_digest
from beit_runtime.manifest import load_manifest


def test_python_backend_repository_layout(beit_segmentation_artifact, tmp_path, capsys):
    output = tmp_path / "repo"
    assert main(["triton", str(beit_segmentation_artifact), "--output", str(output), "--name", "seg",
                 "--model-backend", "python"]) == 0
    assert "beit-serve" in capsys.readouterr().out
    models = sorted(path.name for path in output.iterdir() if path.is_dir())
    assert models == ["seg", "seg_engine", "seg_postprocess", "seg_preprocess"]
    assert list((output / "seg" / "1").iterdir()) == []  # the ensemble's empty version folder
    for model in ("seg_engine", "seg_postprocess", "seg_preprocess"):
        version = output / model / "1"
        role = model.removeprefix("seg_")
        assert f"beit_runtime.triton_models.{role} import TritonPythonModel" in (version / "model.py").read_text()
        # byte for byte the writer's runtime
        assert runtime_digest(version / "beit_runtime") == runtime_digest(PACKAGE_DIR)
    engine_copy = load_manifest(output / "seg_engine" / "1" / "artifact")  # whole artifact, every hash verified
    assert engine_copy.task == "semantic-segmentation"
    postprocess_files = sorted(p.name for p in (output / "seg_postprocess" / "1" / "artifact").iterdir())
    assert postprocess_files == ["manifest.json", "postprocess.onnx"]
    record = json.loads((output / "repository.json").read_text())
    assert record["models"]["engine"] == "seg_engine" and record["beit_runtime_sha256"] == runtime_digest()
    assert any(item.startswith("numpy") and "<2" in item for item in record["python_backend_requirements"])
    readme = (output / "README.md").read_text()
    for expected in ("beit-serve REPO", "nvcr.io/nvidia/tritonserver", "/v2/models/seg/infer", "numpy<2",
                     "from beit_runtime.remote import RemoteSegmenter"):
        assert expected in readme
    # a stock NGC container (python 3.10) cannot install the pinned packages: the README sends to --kubernetes
    assert not re.search(r"docker run[^\n]*nvcr\.io", readme)  # no stock NGC container: it cannot install them
    assert "--kubernetes DIR" in readme and "docker build -t beit/seg:1 DIR" in readme


def test_python_engine_carries_only_the_files_the_manifest_names(beit_classifier_artifact, tmp_path):
    artifact = tmp_path / "artifact"
    shutil.copytree(beit_classifier_artifact, artifact)
    (tmp_path / "secret.txt").write_text("outside the artifact")
    (artifact / "notes.txt").write_text("not in the manifest")
    (artifact / "link.txt").symlink_to(tmp_path / "secret.txt")  # leads out of the folder
    output = tmp_path / "repo"
    assert main(["triton", str(artifact), "--output", str(output), "--name", "cls", "--model-backend", "python"]) == 0
    copy = output / "cls_engine" / "1" / "artifact"
    named = set(json.loads((artifact / "manifest.json").read_text())["files"])
    assert {path.name for path in copy.iterdir()} == named | {"manifest.json"}
    assert load_manifest(copy).task == "image-classification"  # every hash verified


def test_onnxruntime_repository_carries_the_graph_only(beit_classifier_artifact, tmp_path):
    output = tmp_path / "repo"
    assert main(["triton", str(beit_classifier_artifact), "--output", str(output)]) == 0
    name = repository.default_name(beit_classifier_artifact)
    engine = output / f"{name}_engine"
    assert sorted(p.name for p in (engine / "1").iterdir()) == ["model.onnx"]
    assert 'platform: "onnxruntime_onnx"' in (engine / "config.pbtxt").read_text()
    assert (engine / "1" / "model.onnx").read_bytes() == (beit_classifier_artifact / "model.onnx").read_bytes()


def test_existing_output_needs_overwrite_and_usage_errors_exit_2(beit_classifier_artifact, tmp_path, capsys):
    output = tmp_path / "repo"
    output.mkdir()
    (output / "keep.txt").write_text("x")
    assert main(["triton", str(beit_classifier_artifact), "--output", str(output)]) == 2
    assert "--overwrite" in capsys.readouterr().err and (output / "keep.txt").exists()
    assert main(["triton", str(beit_classifier_artifact), "--output", str(output), "--overwrite"]) == 2
    assert "not an earlier beit-export output" in capsys.readouterr().err and (output / "keep.txt").exists()
    (output / "repository.json").write_text('{"format": "beit-deploy-triton-repository"}')  # an earlier one
    assert main(["triton", str(beit_classifier_artifact), "--output", str(output), "--overwrite"]) == 0
    assert not (output / "keep.txt").exists()
    tensorrt_on_cpu = ["--output", str(tmp_path / "r2"), "--model-backend", "tensorrt"]
    assert main(["triton", str(beit_classifier_artifact), *tensorrt_on_cpu]) == 2
    assert "--kind gpu" in capsys.readouterr().err
    assert main(["triton", str(tmp_path / "nothing"), "--output", str(tmp_path / "r3")]) == 2
    assert not (tmp_path / "r2").exists() and not (tmp_path / "r3").exists()


def test_a_failure_midway_leaves_no_partial_repository(beit_classifier_artifact, tmp_path, monkeypatch):
    def fail(version_dir):
        raise KeyboardInterrupt

    monkeypatch.setattr(repository, "vendor_runtime", fail)
    output = tmp_path / "repo"
    assert main(["triton", str(beit_classifier_artifact), "--output", str(output), "--model-backend", "python"]) == 130
    assert list(tmp_path.iterdir()) == []


def test_help_lists_every_option(capsys):
    assert main(["triton", "--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--name", "--precision", "--model-backend", "--max-batch-size", "--instances", "--kind",
                   "--max-queue-delay-us", "--preferred-batch-sizes", "--top-k"):
        assert option in text


def test_precision_auto_carries_the_plan_into_the_python_engine(beit_classifier_artifact, tmp_path, capsys):
    from beit_runtime.planning.tune import TuneOptions, tune

    _, plan = tune(beit_classifier_artifact, options=TuneOptions(rounds=4, batch_size=2, plan_path=tmp_path / "p.json"))
    output = tmp_path / "repo"
    assert main(["triton", str(beit_classifier_artifact), "--output", str(output), "--name", "cls",
                 "--model-backend", "python", "--precision", "auto", "--plan", str(plan)]) == 0
    assert (output / "cls_engine" / "1" / "plan.json").read_bytes() == plan.read_bytes()
    config = (output / "cls_engine" / "config.pbtxt").read_text()
    assert '"auto"' in config and '"plan.json"' in config
    assert main(["triton", str(beit_classifier_artifact), "--output", str(tmp_path / "r2"), "--precision", "auto"]) == 2
    assert "--model-backend python" in capsys.readouterr().err
    assert main(["triton", str(beit_classifier_artifact), "--output", str(tmp_path / "r3"), "--plan", str(plan),
                 "--model-backend", "python"]) == 2


@pytest.mark.parametrize("where", ["artifact", "around"])
def test_overwrite_never_deletes_the_artifact(beit_classifier_artifact, tmp_path, capsys, where):
    artifact = tmp_path / "box" / "art"
    shutil.copytree(beit_classifier_artifact, artifact)
    before = sorted(path.name for path in artifact.iterdir())
    output = artifact if where == "artifact" else tmp_path / "box"
    assert main(["triton", str(artifact), "--output", str(output), "--overwrite"]) == 2
    assert "--overwrite would delete it" in capsys.readouterr().err
    assert sorted(path.name for path in artifact.iterdir()) == before


def test_kubernetes_overwrite_never_deletes_the_artifact(beit_classifier_artifact, tmp_path, capsys):
    artifact = tmp_path / "box" / "art"
    shutil.copytree(beit_classifier_artifact, artifact)
    assert main(["triton", str(artifact), "--output", str(tmp_path / "repo"), "--kubernetes", str(tmp_path / "box"),
                 "--memory-request-mib", "512", "--overwrite"]) == 2
    assert "--kubernetes" in (err := capsys.readouterr().err) and "--overwrite would delete it" in err
    assert (artifact / "manifest.json").is_file() and not (tmp_path / "repo").exists()


def test_a_top_k_above_the_classes_is_served_recorded_and_said_as_the_classes(beit_classifier_artifact, tmp_path,
                                                                              capsys):
    classes = len(load_manifest(beit_classifier_artifact).labels)
    output = tmp_path / "repo"
    assert main(["triton", str(beit_classifier_artifact), "--output", str(output), "--name", "cls",
                 "--model-backend", "python", "--no-warmup", "--top-k", str(classes + 1)]) == 0
    err = capsys.readouterr().err
    assert f"] --top-k {classes + 1} is more than the {classes} classes of {beit_classifier_artifact.name}: serving " \
           f"the top {classes}" in err
    record = json.loads((output / "repository.json").read_text())
    assert record["options"]["top_k"] == classes  # what config.pbtxt serves
    for model in ("cls", "cls_postprocess"):
        config = (output / model / "config.pbtxt").read_text()
        assert f'key: "beit_top_k"\n  value {{\n    string_value: "{classes}"' in config
        assert f"dims: [ {classes} ]" in config and f"dims: [ {classes + 1} ]" not in config
    assert main(["triton", str(beit_classifier_artifact), "--output", str(tmp_path / "r2"), "--no-warmup",
                 "--model-backend", "python", "--top-k", str(classes)]) == 0
    assert "classes" not in capsys.readouterr().err  # nothing to say when it fits
