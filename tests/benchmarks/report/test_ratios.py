"""The one ratio definition the benchmarks use (median of per-round ratios, with IQR), and the stored figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.report.analysis import speed_ratio

RESULTS = Path(__file__).resolve().parents[3] / "benchmarks" / "RESULTS.json"


def _model(slow_ms: list[float], fast_ms: list[float]) -> dict:
    rows = {"slow": slow_ms, "fast": fast_ms}
    return {"backends": {name: {"batches": {"1": {"engine": {"rounds": [ms / 1e3 for ms in values]}}}}
                         for name, values in rows.items()}}


def test_speed_ratio_is_the_median_of_round_ratios_not_a_ratio_of_medians():
    slow, fast = [10.0, 12.0, 30.0], [5.0, 2.0, 30.0]  # per round 2x, 6x, 1x
    ratio = speed_ratio(_model(slow, fast), "fast", "slow", "1")
    assert ratio == {"median": 2.0, "q1": 1.5, "q3": 4.0, "rounds": 3}
    assert np.median(slow) / np.median(fast) == pytest.approx(2.4)  # the ratio of p50s would say 2.4x
    assert speed_ratio(_model(slow, fast), "fast", "missing", "1") is None


def test_stored_figures_recomputed_with_speed_ratio():
    """The figures issue 16 names: README's hand-typed 0.95x / 1.13x / 3.55x / 3.14x were p50 ratios."""
    model = json.loads(RESULTS.read_text(encoding="utf-8"))["models"][0]
    figures = {(row, batch): speed_ratio(model, row, "ort-fp32", batch)["median"]
               for row, batch in (("openvino-fp32", "1"), ("openvino-fp32", "8"), ("openvino-bf16", "1"),
                                  ("ort-int8", "8"))}
    assert {key: round(value, 2) for key, value in figures.items()} == {
        ("openvino-fp32", "1"): 0.96, ("openvino-fp32", "8"): 1.16,
        ("openvino-bf16", "1"): 3.50, ("ort-int8", "8"): 3.19,
    }
