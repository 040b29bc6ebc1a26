"""A long evaluation loses nothing when it stops: ``--output DIR`` keeps its state after every batch, and a rerun
goes on from there to the figures an uninterrupted run gives. Stopped three ways: a bad mask (an error midway,
fixed before the rerun), SIGKILL, and Ctrl-C (SIGINT: exit 130 and a line saying how to go on, no traceback).
A larger --limit extends an evaluation; other settings, or other images among those measured, are refused."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from beit_runtime.cli import main
from beit_runtime.datasets import name_rank
from beit_runtime.errors import DatasetError
from beit_runtime.evaluation import EvaluationOptions, evaluate
from beit_runtime.evaluation.checkpoint import STATE_FILE
from beit_runtime.output_files import TEMP_MARK

ONE_BACKEND = ["--backend", "onnxruntime"]
IMAGES = 400  # with --batch-size 1, hundreds of state writes: a signal always lands midway


def _scenes(root: Path, count: int, *, classes: int) -> Path:
    rng = np.random.default_rng(7)
    for folder in ("images", "masks"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for index in range(count):
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(root / "images" / f"s{index}.png")
        Image.fromarray(rng.integers(0, classes, (40, 48), dtype=np.uint8)).save(root / "masks" / f"s{index}.png")
    return root


def _figures(report) -> list[dict]:
    return [{key: value for key, value in result.as_json().items() if key != "images_per_s"}
            for result in report.results]


def test_a_run_stopped_by_a_bad_mask_goes_on_after_the_fix_to_the_uninterrupted_figures(
        beit_segmentation_artifact, tmp_path, capsys):
    data = _scenes(tmp_path / "data", 6, classes=10)
    third = sorted((data / "images").iterdir(), key=lambda path: name_rank(path, root=data))[2].name  # batch 2
    good_mask = (data / "masks" / third).read_bytes()
    Image.fromarray(np.full((40, 48), 12, np.uint8)).save(data / "masks" / third)  # no class 12: batch 2 fails
    state = tmp_path / "out" / STATE_FILE
    options = EvaluationOptions(backend="onnxruntime", batch_size=2, progress="lines", checkpoint=state)
    with pytest.raises(DatasetError, match=third):
        evaluate(beit_segmentation_artifact, data, options=options)
    assert json.loads(state.read_text())["done"] == 2  # the first batch is kept

    (data / "masks" / third).write_bytes(good_mask)
    capsys.readouterr()
    resumed = evaluate(beit_segmentation_artifact, data, options=options)
    assert f"evaluate: going on from {state}: 2 of 6 images were measured before" in capsys.readouterr().err
    fresh = evaluate(beit_segmentation_artifact, data, options=EvaluationOptions(backend="onnxruntime", batch_size=2))
    assert _figures(resumed) == _figures(fresh) and resumed.results[0].images == 6
    assert json.loads(state.read_text())["done"] == 6


def _digit_folder(root: Path, count: int) -> Path:
    """``count`` random 32x32 images in the tiny classifier's class folders (class_0 .. class_9)."""
    rng = np.random.default_rng(11)
    for index in range(count):
        folder = root / f"class_{index % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"{index:04d}.png")
    return root


def _name_among(data: Path, folder: Path) -> Path:
    """A new image path in ``folder`` that an evaluation (``evaluate.limited``: SHA-256 order of the names)
    takes before the last image already in ``data``: among those measured, not after them."""
    last = max(name_rank(path, root=data) for path in data.rglob("*.png"))
    return next(path for index in range(100) if name_rank(path := folder / f"extra{index}.png", root=data) < last)


def _command(artifact: Path, data: Path, output: Path, *extra: str) -> list[str]:
    return ["evaluate", str(artifact), "--data", str(data), "--output", str(output), *ONE_BACKEND, *extra]


def _json_rows(text: str) -> list[dict]:
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [{key: value for key, value in row.items() if key != "images_per_s"} for row in rows]


def _stop_midway(command: list[str], state: Path, sig: int) -> tuple[int, str]:
    """Start ``beit-run`` + ``command``; send ``sig`` once its state file shows a batch done; (exit code, stderr)."""
    process = subprocess.Popen([sys.executable, "-m", "beit_runtime.cli", *command], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not state.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        process.send_signal(sig)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    return process.returncode, err


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_a_killed_or_interrupted_evaluation_goes_on_to_the_uninterrupted_figures(
        beit_classifier_artifact, tmp_path, capsys, sig):
    data = _digit_folder(tmp_path / "data", IMAGES)
    output = tmp_path / "out"
    command = _command(beit_classifier_artifact, data, output, "--batch-size", "1", "--json")
    code, err = _stop_midway(command, output / STATE_FILE, sig)
    done = json.loads((output / STATE_FILE).read_text())["done"]
    assert 1 <= done < IMAGES  # stopped midway, the state whole
    if sig == signal.SIGINT:
        assert code == 130 and "Traceback" not in err
        assert f"beit-run evaluate: interrupted; rerun the same command to go on from {output / STATE_FILE}" in err
    else:
        assert code == -signal.SIGKILL

    assert main(command) == 0
    resumed = capsys.readouterr()
    assert f"going on from {output / STATE_FILE}: {done} of {IMAGES} images" in resumed.err
    assert main(_command(beit_classifier_artifact, data, tmp_path / "fresh", "--batch-size", "1", "--json")) == 0
    fresh = _json_rows(capsys.readouterr().out)
    assert _json_rows(resumed.out) == fresh and fresh[0]["images"] == IMAGES
    assert [name for _, _, names in os.walk(output) for name in names if TEMP_MARK in name] == []


def test_a_state_of_other_settings_or_data_is_refused_naming_what_changed(beit_classifier_artifact, tmp_path, capsys):
    data = _digit_folder(tmp_path / "data", 12)
    output = tmp_path / "out"
    assert main(_command(beit_classifier_artifact, data, output, "--batch-size", "4")) == 0
    first = (output / STATE_FILE).read_text()
    capsys.readouterr()
    assert main(_command(beit_classifier_artifact, data, output, "--batch-size", "8")) == 2
    captured = capsys.readouterr()
    assert "holds an evaluation with other settings (batch_size: 4 then, 8 now)" in captured.err
    assert "delete the file to start over" in captured.err and captured.out == ""
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(_name_among(data, data / "class_3"))
    assert main(_command(beit_classifier_artifact, data, output, "--batch-size", "4")) == 2
    assert f"the first 12 images of {data} are not those an earlier run measured" in capsys.readouterr().err
    assert main(_command(beit_classifier_artifact, data, output, "--batch-size", "4", "--limit", "5")) == 2
    assert f"an earlier run measured 12 images of {data}, more than the 5 this run has" in capsys.readouterr().err
    assert (output / STATE_FILE).read_text() == first  # a refused run writes nothing
    (output / STATE_FILE).write_text("{ cut")
    assert main(_command(beit_classifier_artifact, data, output, "--batch-size", "4")) == 2
    assert "is not an evaluation state beit-run wrote" in capsys.readouterr().err


def test_a_larger_limit_goes_on_from_the_images_already_measured(beit_classifier_artifact, tmp_path, capsys):
    data = _digit_folder(tmp_path / "data", 20)
    output = tmp_path / "out"
    assert main(_command(beit_classifier_artifact, data, output, "--limit", "8", "--json")) == 0
    assert json.loads((output / STATE_FILE).read_text())["done"] == 8
    spread = r"measured 8 of 20 images, [2-8] of 10 classes \(--limit: a spread sample"
    assert re.search(spread, capsys.readouterr().err)
    assert main(_command(beit_classifier_artifact, data, output, "--json")) == 0  # all 20 now
    extended = capsys.readouterr()
    assert f"going on from {output / STATE_FILE}: 8 of 20 images were measured before" in extended.err
    assert main(_command(beit_classifier_artifact, data, tmp_path / "fresh", "--json")) == 0
    fresh = _json_rows(capsys.readouterr().out)
    assert _json_rows(extended.out) == fresh and fresh[0]["images"] == 20
