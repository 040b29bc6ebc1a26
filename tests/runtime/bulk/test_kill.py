"""A folder run killed with SIGKILL midway, then rerun: every image ends up exactly once, and no partial or
temporary file is left. The run is stopped at a known point without timing anything: one of its "images"
is a named pipe, on which the reader blocks until the test kills the process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np

from beit_runtime.cli import main
from beit_runtime.output_files import TEMP_MARK

from .conftest import BROKEN, GOOD, make_mixed_folder

BLOCKER = "m-blocker.png"  # sorts after logo-rgba.png: 6 good + 2 broken images come before it


def _names(path):
    if not path.exists():
        return []
    return [json.loads(line)["image"] for line in path.read_text(encoding="utf-8").splitlines()]


def _wait_for_lines(out, process, *, results, errors, deadline_s=300.0):
    give_up = time.monotonic() + deadline_s
    while len(_names(out / "results.jsonl")) < results or len(_names(out / "errors.jsonl")) < errors:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < give_up, "the run never reached the named pipe"
        time.sleep(0.05)


def test_sigkill_midway_then_rerun_gives_every_image_once(beit_segmentation_artifact, tmp_path):
    photos = make_mixed_folder(tmp_path / "photos")
    os.mkfifo(photos / BLOCKER)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "beit_runtime.cli", str(beit_segmentation_artifact), str(photos),
               "--output", str(out), "--batch-size", "2", "--overlays"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for_lines(out, process, results=6, errors=2)
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate()
    assert process.returncode == -signal.SIGKILL
    before = _names(out / "results.jsonl")
    assert len(before) == 6 and len(before) < len(GOOD)  # killed midway

    (photos / BLOCKER).unlink()  # the pipe becomes a real picture for the rerun
    cv2.imwrite(str(photos / BLOCKER), np.full((20, 30, 3), 200, np.uint8))
    assert main([str(beit_segmentation_artifact), str(photos), "--output", str(out), "--batch-size", "2",
                 "--overlays"]) == 3

    expected = sorted([*GOOD, BLOCKER])
    assert _names(out / "results.jsonl") == expected  # each once, in order: the rerun appended the rest
    assert _names(out / "errors.jsonl") == list(BROKEN)
    leftovers = [name for _, _, names in os.walk(out) for name in names if TEMP_MARK in name]
    assert leftovers == []
    for name in expected:
        assert cv2.imread(str(out / f"{name}.png"), cv2.IMREAD_UNCHANGED) is not None
        assert cv2.imread(str(out / f"{name}.overlay.png")) is not None
    written = sorted(str(path.relative_to(out)) for path in out.rglob("*.png"))
    assert written == sorted([f"{name}.png" for name in expected] + [f"{name}.overlay.png" for name in expected])
