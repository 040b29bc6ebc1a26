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
from beit_runtime.errors import InputError
from beit_runtime.evaluation import EvaluationOptions, evaluate

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


def test_a_report_left_inside_the_data_is_not_read_by_later_runs_and_they_say_so(
        beit_classifier_artifact, tmp_path, capsys):
    data = _class_folders(tmp_path / "data", ["class_1", "class_2"])
    assert _evaluate(beit_classifier_artifact, data, "--output", str(data / "report-a")) == 0
    capsys.readouterr()
    other = tmp_path / "other"
    assert _evaluate(beit_classifier_artifact, data, "--output", str(other), "--json") == 0
    captured = capsys.readouterr()
    assert '"images": 4' in captured.out, captured.err
    assert f"skipped 1 evaluation report folder(s), not data: {data / 'report-a'}" in captured.err
    assert f"- skipped 1 evaluation report folder(s), not data: {data / 'report-a'}" in (
        other / "evaluation.md").read_text(encoding="utf-8")


def test_unlabelled_evaluation_of_a_segmentation_set_reads_its_images_not_its_masks(beit_segmentation_artifact,
                                                                                      tmp_path):
    data = _scene(_scene(tmp_path / "data", np.zeros((20, 24)), name="a"), np.ones((20, 24)), name="b")
    options = EvaluationOptions(labelled=False, backend="onnxruntime", precision="fp32", progress="off")
    report = evaluate(beit_segmentation_artifact, data, options=options)
    assert report.results[0].images == 2
    assert report.notes and f"reading {data / 'images'} only" in report.notes[0]


@pytest.mark.parametrize("existing", [False, True])
def test_a_run_stopped_in_its_first_batch_leaves_no_folder_it_made(beit_segmentation_artifact, tmp_path, capsys,
                                                                    existing):
    mask = np.zeros((20, 24))
    mask[0, 0] = 42  # not a class of the tiny model: the first batch stops the run
    data = _scene(tmp_path / "data", mask)
    output = tmp_path / "new" / "report"
    if existing:
        output.mkdir(parents=True)  # the user's folder: kept
    assert _evaluate(beit_segmentation_artifact, data, "--output", str(output)) == 2
    assert "holds class id(s) 42" in capsys.readouterr().err
    assert output.is_dir() == existing and (tmp_path / "new").exists() == existing
    assert not existing or not any(output.iterdir())


def test_a_checkpoint_whose_folder_cannot_be_made_is_refused_before_anything_runs(beit_classifier_artifact,
                                                                                  tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("keep me")
    empty = tmp_path / "empty"
    empty.mkdir()  # reading it first would fail with "no image files" instead
    for checkpoint, folder in ((blocker / "run" / "state.json", blocker / "run"),
                               ("/proc/beit-x/state.json", "/proc/beit-x")):
        options = EvaluationOptions(checkpoint=checkpoint, progress="off")
        with pytest.raises(InputError, match=f"checkpoint {checkpoint}: its folder {folder} cannot be created"):
            evaluate(beit_classifier_artifact, empty, options=options)
    with pytest.raises(InputError, match="is a folder: name a file"):
        evaluate(beit_classifier_artifact, empty, options=EvaluationOptions(checkpoint=empty, progress="off"))
    assert blocker.read_text() == "keep me"


@pytest.mark.parametrize(("option", "value", "wanted"), [
    ("limit", 0, "a positive integer"), ("limit", -5, "a positive integer"), ("limit", True, "a positive integer"),
    ("batch_size", 0, "a positive integer"), ("threads", -2, "a non-negative integer"),
    ("labelled", "no", "True or False"), ("reduce_labels", 1, "True or False"),
])
def test_options_are_checked_when_made_naming_the_option(option, value, wanted):
    with pytest.raises(InputError, match=f"{option} must be {wanted}, got {value!r}"):
        EvaluationOptions(**{option: value})


@pytest.mark.parametrize("labelled", [True, False])
def test_a_task_that_is_not_evaluated_is_refused_labelled_or_not(beit_mim_artifact, tmp_path, labelled):
    data = tmp_path / "images"
    data.mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(data / "a.png")
    options = EvaluationOptions(labelled=labelled, backend="onnxruntime", precision="fp32", progress="off")
    with pytest.raises(InputError, match=r"evaluate measures backbone, image-classification and "
                                         r"semantic-segmentation artifacts, not 'masked-image-modeling'"):
        evaluate(beit_mim_artifact, data, options=options)
