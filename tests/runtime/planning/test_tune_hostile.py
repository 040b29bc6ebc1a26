"""``beit-run tune`` / ``TuneOptions`` refuse bad options and unusable plan paths before measuring anything."""

from __future__ import annotations

import math

import pytest
from PIL import Image

from beit_runtime.cli import main
from beit_runtime.errors import InputError
from beit_runtime.planning.tune import TuneOptions, tune


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-0.5", "lots"])
def test_max_drop_must_be_a_finite_non_negative_number(value, tmp_path, capsys):
    plan = tmp_path / "plan.json"
    with pytest.raises(SystemExit) as exited:
        main(["tune", str(tmp_path), f"--max-drop={value}", "--plan", str(plan)])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "beit-run tune: error:" in err and "--max-drop" in err and "finite number >= 0" in err
    assert not plan.exists()


@pytest.mark.parametrize("value", [math.nan, math.inf, -1.0, "1", True])
def test_tune_options_refuse_a_max_drop_that_would_disable_the_budget(value):
    with pytest.raises(InputError, match=r"max_drop \(--max-drop\) must be a finite number"):
        TuneOptions(max_drop=value)


def test_negative_threads_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["tune", str(tmp_path), "--threads", "-2"])
    assert exited.value.code == 2 and "--threads" in capsys.readouterr().err


def test_a_plan_path_that_is_a_folder_fails_before_measuring(beit_classifier_artifact, tmp_path, capsys):
    no_images = tmp_path / "no-images"
    no_images.mkdir()  # measuring first would fail on this instead
    folder = tmp_path / "plans"
    folder.mkdir()
    assert main(["tune", str(beit_classifier_artifact), "--data", str(no_images), "--plan", f"{folder}/"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("beit-run tune: error: --plan") and str(folder) in err and "is a folder" in err
    assert list(folder.iterdir()) == []


def test_a_plan_path_under_a_file_fails_before_measuring(beit_classifier_artifact, tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("keep me")
    assert main(["tune", str(beit_classifier_artifact), "--plan", str(blocker / "plan.json")]) == 2
    err = capsys.readouterr().err
    assert "--plan's folder" in err and str(blocker) in err and "is a file" in err
    assert blocker.read_text() == "keep me"
    with pytest.raises(InputError, match="plan_path's folder"):  # the Python API checks it up front too
        tune(beit_classifier_artifact, options=TuneOptions(plan_path=blocker / "plan.json"))


def test_tune_shows_its_accuracy_pass_and_timing_rounds_on_stderr(beit_classifier_artifact, tmp_path, capsys):
    from PIL import Image

    for index in range(3):
        (tmp_path / "data" / f"class_{index}").mkdir(parents=True)
        Image.new("RGB", (32, 32), (index * 80, 20, 200)).save(tmp_path / "data" / f"class_{index}" / "x.png")
    tune(beit_classifier_artifact, options=TuneOptions(data=tmp_path / "data", rounds=4, batch_size=2,
                                                        plan_path=tmp_path / "plan.json", progress="lines"))
    lines = capsys.readouterr().err.splitlines()
    assert any(line.startswith("evaluate: 3/3 images, ") for line in lines)
    assert any(line.startswith("tune timing: 4/4 rounds, ") and " rounds/s, ETA " in line for line in lines)
    with pytest.raises(InputError, match="progress must be one of"):
        TuneOptions(progress="loud")


def test_fewer_than_four_rounds_is_refused_as_the_rule_needs_four(tmp_path, capsys):
    with pytest.raises(InputError, match=r"rounds \(--rounds\) must be at least 4, got 3: a variant is chosen only"):
        TuneOptions(rounds=3)
    with pytest.raises(SystemExit) as exited:
        main(["tune", str(tmp_path), "--rounds", "1"])
    assert exited.value.code == 2 and "argument --rounds: expected an integer >= 4, got '1'" in capsys.readouterr().err


def test_the_timed_image_is_data_not_a_report_left_in_the_data_folder(beit_classifier_artifact, tmp_path):
    import numpy as np

    from beit_runtime.images import load_image
    from beit_runtime.manifest import load_manifest
    from beit_runtime.planning.tune import _timing_images

    data = tmp_path / "data"
    (data / "a-report").mkdir(parents=True)
    (data / "a-report" / "evaluation.md").write_text("# evaluation\n")
    Image.new("RGB", (64, 48), (255, 255, 255)).save(data / "a-report" / "accuracy-vs-speed.png")
    (data / "class_0").mkdir()
    Image.new("RGB", (32, 32), (10, 200, 30)).save(data / "class_0" / "x.png")
    images = _timing_images(load_manifest(beit_classifier_artifact), TuneOptions(data=data, batch_size=2))
    assert len(images) == 2 and all(np.array_equal(image, load_image(data / "class_0" / "x.png")) for image in images)
