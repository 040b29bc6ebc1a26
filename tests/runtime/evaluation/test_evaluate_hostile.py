"""``beit-run evaluate`` on hostile data and options: typed errors, exit 2, nothing written, nothing measured."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from beit_runtime.cli import main
from beit_runtime.datasets import classification_samples

ONE_VARIANT = ["--backend", "onnxruntime", "--precision", "fp32"]


def _scene(root: Path, mask: np.ndarray, *, name: str = "s") -> Path:
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(exist_ok=True)
    image = np.random.default_rng(0).integers(0, 256, (*mask.shape, 3), dtype=np.uint8)
    Image.fromarray(image).save(root / "images" / f"{name}.png")
    Image.fromarray(mask.astype(np.uint8)).save(root / "masks" / f"{name}.png")
    return root


def _evaluate(artifact: Path, data: Path, *extra: str) -> int:
    return main(["evaluate", str(artifact), "--data", str(data), *ONE_VARIANT, *extra])


def test_masks_with_only_the_ignore_value_are_a_dataset_error(beit_segmentation_artifact, tmp_path, capsys):
    data = _scene(tmp_path / "data", np.full((20, 24), 255))
    assert _evaluate(beit_segmentation_artifact, data) == 2
    captured = capsys.readouterr()
    assert "beit-run evaluate: error: no pixel of the masks" in captured.err and "255" in captured.err
    assert "miou" not in captured.out
    _scene(data, np.zeros((20, 24)))  # with --reduce-labels, 0 becomes 255 too: the fix says so
    assert _evaluate(beit_segmentation_artifact, data, "--reduce-labels") == 2
    assert "drop it if 0 is a real class" in capsys.readouterr().err


def test_an_out_of_range_mask_id_names_the_mask_and_the_value(beit_segmentation_artifact, tmp_path, capsys):
    mask = np.zeros((20, 24))
    mask[3, 4], mask[5, 6] = 42, 17  # the tiny model has 10 classes
    data = _scene(tmp_path / "data", mask, name="street")
    assert _evaluate(beit_segmentation_artifact, data) == 2
    err = capsys.readouterr().err
    assert str(data / "masks" / "street.png") in err and "17, 42" in err and "pass --reduce-labels" in err
    assert _evaluate(beit_segmentation_artifact, data, "--reduce-labels") == 2
    err = capsys.readouterr().err
    assert "17, 42" in err and "pass --reduce-labels" not in err and "--reduce-labels on" in err


def test_an_output_that_is_a_file_fails_before_any_inference(beit_segmentation_artifact, tmp_path, capsys):
    output = tmp_path / "afile"
    output.write_text("keep me")
    not_a_data_set = tmp_path / "nothing"
    not_a_data_set.mkdir()  # evaluating first would fail on this instead
    assert _evaluate(beit_segmentation_artifact, not_a_data_set, "--output", str(output)) == 2
    err = capsys.readouterr().err
    assert err.startswith("beit-run evaluate: error: --output") and str(output) in err and "is a file" in err
    assert output.read_text() == "keep me"


def test_an_output_inside_a_file_fails_before_any_inference(beit_segmentation_artifact, tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("keep me")
    data = _scene(tmp_path / "data", np.zeros((20, 24)))
    assert _evaluate(beit_segmentation_artifact, data, "--output", str(blocker / "report")) == 2
    err = capsys.readouterr().err
    assert "--output" in err and "cannot be created" in err and str(blocker) in err
    assert capsys.readouterr().out == "" and blocker.read_text() == "keep me"
    assert _evaluate(beit_segmentation_artifact, data, "--output", "/proc/beit-evaluate-report") == 2
    assert "--output /proc/beit-evaluate-report cannot be created" in capsys.readouterr().err


def test_negative_threads_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["evaluate", str(tmp_path), "--data", str(tmp_path), "--threads", "-1"])
    assert exited.value.code == 2 and "--threads" in capsys.readouterr().err


def _class_folders(root: Path, names: list[str], *, per_class: int = 2) -> Path:
    rng = np.random.default_rng(3)
    for name in names:
        (root / name).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / name / f"{index}.png")
    return root


def test_an_output_inside_the_data_is_not_read_as_images_and_the_data_itself_is_refused(
        beit_classifier_artifact, tmp_path, capsys):
    data = _class_folders(tmp_path / "data", ["class_1", "class_2"])
    output = data / "class_1" / "report"  # its plot would be a class_1 image
    assert _evaluate(beit_classifier_artifact, data, "--output", str(output), "--json") == 0
    assert (output / "accuracy-vs-speed.png").is_file()  # a PNG inside class_1
    assert '"images": 4' in capsys.readouterr().out
    assert _evaluate(beit_classifier_artifact, data, "--output", str(output), "--json") == 0  # goes on, same four
    rerun = capsys.readouterr()
    assert '"images": 4' in rerun.out and "all 4 images were measured by an earlier run" in rerun.err
    assert _evaluate(beit_classifier_artifact, data, "--output", str(data)) == 2
    captured = capsys.readouterr()
    assert f"--output {data} is the --data folder" in captured.err and captured.out == ""
    assert sorted(path.name for path in data.iterdir()) == ["class_1", "class_2"]


def test_a_label_two_classes_share_is_refused_and_folders_named_by_class_id_are_taken(
        beit_classifier_artifact, tmp_path, capsys):
    artifact = Path(shutil.copytree(beit_classifier_artifact, tmp_path / "artifact"))
    manifest = json.loads((artifact / "manifest.json").read_text(encoding="utf-8"))
    manifest["labels"]["5"] = manifest["labels"]["3"]  # as ImageNet's two "crane" classes
    (artifact / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    shared = manifest["labels"]["3"]
    data = _class_folders(tmp_path / "data", [shared, "class_1"])
    assert _evaluate(artifact, data) == 2
    err = capsys.readouterr().err
    assert f"class folder {shared!r} in {data} is ambiguous: the artifact's classes 3 and 5" in err
    assert f"name the folder by the class id it holds (e.g. {data / '3'})" in err
    (data / shared).rename(data / "5")
    samples = classification_samples(data, labels={int(key): value for key, value in manifest["labels"].items()})
    assert sorted({sample.target for sample in samples}) == [1, 5]
    assert _evaluate(artifact, data) == 0
