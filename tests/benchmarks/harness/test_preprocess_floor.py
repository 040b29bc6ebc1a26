"""The preprocessing-floor benchmark (issue 20 item 3): both sides on the same images, ratio from the same rounds,
the RESULTS.md block written between its markers."""

from __future__ import annotations

import json

import numpy as np
import skimage.data

from benchmarks import preprocess_bench
from benchmarks.harness.preprocess_floor import floor_result, floor_table, one_opencv_thread


def test_floor_rows_per_recipe_and_opencv_thread_restored():
    import cv2

    before = cv2.getNumThreads()
    arrays = [skimage.data.astronaut()[:200, :300], skimage.data.coffee()]
    result = floor_result(["beit-base-224", "deit-base-224"], arrays, rounds=3)
    assert cv2.getNumThreads() == before
    assert [row["recipe"] for row in result["rows"]] == ["beit-base-224", "deit-base-224"]
    for row in result["rows"]:
        assert row["images"] == 2 and row["rounds"] == 3
        assert row["floor_ms"] > 0 and row["runtime_ms"] > 0
        assert row["ratio_iqr"][0] <= row["ratio"] <= row["ratio_iqr"][1]
        assert row["met"] == (row["ratio"] <= 1.25)
    table = floor_table(result)
    assert "family" in result["cpu"] and result["cpu"] in table
    assert table.count("\n| beit-base-224 | bilinear |") == 1 and "| deit-base-224 | bicubic |" in table


def test_one_opencv_thread_inside_only():
    import cv2

    before = cv2.getNumThreads()
    with one_opencv_thread():
        assert cv2.getNumThreads() == 1
    assert cv2.getNumThreads() == before


def test_write_results_replaces_only_the_block(tmp_path, monkeypatch):
    results_md = tmp_path / "RESULTS.md"
    results_md.write_text(f"before\n{preprocess_bench.BEGIN}\nold\n{preprocess_bench.END}\nafter\n")
    monkeypatch.setattr(preprocess_bench, "FLOOR_RESULTS", tmp_path / "RESULTS-preprocess-floor.json")
    monkeypatch.setattr(preprocess_bench, "FLOOR_RECIPES", ["beit-base-224"])
    assert preprocess_bench.main(["--floor", "--rounds", "2", "--write-results", "--photos", str(tmp_path / "p")]) == 0
    text = results_md.read_text()
    assert text.startswith("before\n") and text.endswith("after\n") and "old" not in text
    assert "| beit-base-224 | bilinear |" in text
    written = json.loads((tmp_path / "RESULTS-preprocess-floor.json").read_text())
    assert written["rows"][0]["images"] == 6 and np.isfinite(written["rows"][0]["ratio"])
