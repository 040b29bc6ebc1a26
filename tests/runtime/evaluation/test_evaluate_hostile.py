"""``beit-run evaluate`` on hostile data and options: typed errors, exit 2, nothing written, nothing measured."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from beit_runtime.cli import main

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
