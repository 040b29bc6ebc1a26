"""Image files whose names are not UTF-8 (a latin-1 "café.png" copied from an old disk): Python keeps such
a name's bytes as lone surrogates, and every output beit-run writes for it must take it (before, OpenCV
crashed the process writing the overlay, and the JSON lines and digests raised UnicodeEncodeError)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from beit_runtime.cli import main

LATIN1_NAME = b"caf\xe9.png"


@pytest.fixture
def latin1_photos(tmp_path) -> Path:
    photos = tmp_path / "photos"
    photos.mkdir()
    png = cv2.imencode(".png", np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8))[1].tobytes()
    try:
        Path(os.fsdecode(os.path.join(os.fsencode(photos), LATIN1_NAME))).write_bytes(png)
    except OSError as error:  # a file system that only takes UTF-8 names (some macOS / Windows mounts)
        pytest.skip(f"this file system refuses a latin-1 file name: {error}")
    (photos / "plain.png").write_bytes(png)
    return photos


def test_a_file_run_writes_the_overlay_of_a_latin1_named_image(beit_segmentation_artifact, latin1_photos, tmp_path):
    image = os.fsdecode(os.path.join(os.fsencode(latin1_photos), LATIN1_NAME))
    completed = subprocess.run([sys.executable, "-m", "beit_runtime.cli", str(beit_segmentation_artifact), image,
                                "--output", str(tmp_path / "out")], check=False, capture_output=True, timeout=300)
    assert completed.returncode == 0, completed.stderr.decode(errors="replace")
    assert os.listdir(os.fsencode(tmp_path / "out")) == [LATIN1_NAME]


def test_a_folder_run_records_a_latin1_name_and_a_rerun_finds_it_done(beit_segmentation_artifact, latin1_photos,
                                                                      tmp_path, capsys):
    out = tmp_path / "out"
    argv = [str(beit_segmentation_artifact), str(latin1_photos), "--output", str(out)]
    assert main(argv) == 0
    lines = (out / "results.jsonl").read_bytes().splitlines()
    lines[0].decode("utf-8")  # the file stays UTF-8: the name is written as \udce9
    names = [json.loads(line)["image"] for line in lines]
    assert [os.fsencode(name) for name in names] == [LATIN1_NAME, b"plain.png"]
    assert sorted(os.listdir(os.fsencode(out))) == [LATIN1_NAME + b".png", b"plain.png.png", b"results.jsonl",
                                                    b"run.json"]
    assert main(argv) == 0
    assert "0 images done, 2 done before" in capsys.readouterr().out


def test_evaluate_keeps_its_state_for_a_latin1_named_image(beit_classifier_artifact, latin1_photos, tmp_path,
                                                           capsys):
    data = tmp_path / "data"
    shutil.copytree(latin1_photos, data / "class_0")
    argv = ["evaluate", str(beit_classifier_artifact), "--data", str(data), "--output", str(tmp_path / "report"),
            "--precision", "fp32"]
    assert main(argv) == 0
    state = json.loads((tmp_path / "report/evaluation-state.json").read_text(encoding="utf-8"))
    assert state["done"] == 2
    assert main(argv) == 0
    assert "all 2 images were measured by an earlier run" in capsys.readouterr().err
