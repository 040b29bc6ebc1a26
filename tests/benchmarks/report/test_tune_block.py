"""The tune block of RESULTS.md: a variant that could not run shows no speed-up and no drop, a measured one both."""

from __future__ import annotations

from benchmarks.report.tune import _row


def test_an_unavailable_variant_shows_no_drop():
    row = {"backend": "openvino", "precision": "bf16", "speedup": {}, "drop_points": 0.0, "eligible": False,
           "note": "unavailable: bf16 needs a CPU with bf16 units"}
    assert _row(row) == "| openvino-bf16 | - | - | unavailable: bf16 needs a CPU with bf16 units |"


def test_a_measured_variant_shows_its_speed_up_and_drop():
    row = {"backend": "onnxruntime", "precision": "int8", "speedup": {"median": 1.26, "q1": 1.1, "q3": 1.29},
           "drop_points": 0.0, "eligible": True, "note": ""}
    assert _row(row) == "| onnxruntime-int8 | 1.26x [1.10-1.29] | 0.00 | eligible |"
