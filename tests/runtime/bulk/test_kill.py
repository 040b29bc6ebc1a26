"""A folder run killed with SIGKILL (or interrupted with Ctrl-C) midway, then rerun: every image ends up exactly
once, and no partial or temporary file is left. The signal comes once the first four batches are written (6
results, 2 errors); the fifth holds a large photo whose segmentation and overlay take far longer than the
test's 5 ms poll, so it lands midway. (A named pipe blocked the reader here once; the folder walk now skips
special files.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from beit_runtime.cli import main
from beit_runtime.output_files import TEMP_MARK

from .conftest import BROKEN, GOOD, make_mixed_folder

LARGE = "m-large.png"  # sorts after logo-rgba.png: 6 good + 2 broken images come before it


def _names(path):
    if not path.exists():
        return []
    return [json.loads(line)["image"] for line in path.read_text(encoding="utf-8").splitlines()]


def _wait_for_lines(out, process, *, results, errors, deadline_s=300.0):
    give_up = time.monotonic() + deadline_s
    while len(_names(out / "results.jsonl")) < results or len(_names(out / "errors.jsonl")) < errors:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < give_up, "the run never wrote its fourth batch"
        time.sleep(0.005)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "Ctrl-C"])
def test_killed_or_interrupted_midway_then_rerun_gives_every_image_once(beit_segmentation_artifact, tmp_path, sig):
    photos = make_mixed_folder(tmp_path / "photos")
    cv2.imwrite(str(photos / LARGE), np.random.default_rng(0).integers(0, 256, (2400, 3200, 3), dtype=np.uint8))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "beit_runtime.cli", str(beit_segmentation_artifact), str(photos),
               "--output", str(out), "--batch-size", "2", "--overlays"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_lines(out, process, results=6, errors=2)
    finally:
        process.send_signal(sig)
        _, err = process.communicate(timeout=120)
    if sig == signal.SIGINT:  # Ctrl-C: exit 130 and how to go on, no traceback
        assert process.returncode == 130 and "Traceback" not in err
        assert f"beit-run: interrupted; {out} keeps every image done: rerun the same command to go on" in err
    else:
        assert process.returncode == -signal.SIGKILL
    before = _names(out / "results.jsonl")
    assert 6 <= len(before) < len(GOOD) + 1 and LARGE not in before  # killed midway

    assert main([str(beit_segmentation_artifact), str(photos), "--output", str(out), "--batch-size", "2",
                 "--overlays"]) == 3

    expected = sorted([*GOOD, LARGE])
    assert _names(out / "results.jsonl") == expected  # each once, in order: the rerun appended the rest
    assert _names(out / "errors.jsonl") == list(BROKEN)
    leftovers = [name for _, _, names in os.walk(out) for name in names if TEMP_MARK in name]
    assert leftovers == []
    for name in expected:
        assert cv2.imread(str(out / f"{name}.png"), cv2.IMREAD_UNCHANGED) is not None
        assert cv2.imread(str(out / f"{name}.overlay.png")) is not None
    written = sorted(str(path.relative_to(out)) for path in out.rglob("*.png"))
    assert written == sorted([f"{name}.png" for name in expected] + [f"{name}.overlay.png" for name in expected])
