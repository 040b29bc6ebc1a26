"""Segmentation folder runs on images of extreme shapes: a label map PNG cannot hold (a side over a million
pixels) fails that image alone, named in errors.jsonl, and a thin strip's overlay is not enlarged into gigabytes."""

from __future__ import annotations

import json

import cv2
from PIL import Image

from beit_runtime.cli import main


def _lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_an_image_too_wide_for_png_fails_alone_and_a_thin_strip_gets_a_small_overlay(beit_segmentation_artifact,
                                                                                      tmp_path, capsys):
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    Image.new("RGB", (1_000_001, 1), (10, 20, 30)).save(photos / "wide.png")  # under Pillow's bomb limit
    Image.new("RGB", (1, 5000), (10, 20, 30)).save(photos / "tall.png")
    Image.new("RGB", (40, 30), (200, 20, 30)).save(photos / "z.png")
    argv = [str(beit_segmentation_artifact), str(photos), "--output", str(out), "--overlays", "--batch-size", "3"]
    for _ in range(2):  # the rerun tries it again, and the others are done before
        assert main(argv) == 3
        (error,) = _lines(out / "errors.jsonl")
        assert (error["image"], error["error"]) == ("wide.png", "ImageFormatError")
        assert error["reason"] == ("its label map would be 1000001x1 pixels, and PNG writers take at most 1000000 "
                                   "per side: crop or resize the image")
        assert [record["image"] for record in _lines(out / "results.jsonl")] == ["tall.png", "z.png"]
    assert "0 images done, 2 done before, 1 failed" in capsys.readouterr().out
    overlay = cv2.imread(str(out / "tall.png.overlay.png"))
    assert overlay.shape[1] == 256 and 5000 < overlay.shape[0] < 5100  # a margin for the legend, not 256x wider
    assert cv2.imread(str(out / "tall.png.png"), cv2.IMREAD_UNCHANGED).shape == (5000, 1)
