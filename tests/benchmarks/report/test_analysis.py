"""benchmarks.report.analysis: goals are judged from per-round ratios with their spread."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.report.analysis import evaluate_goals


def _model(rounds_ms: dict[str, list[float]]) -> dict:
    backends = {name: {"batches": {"1": {"engine": {"p50_ms": float(np.median(ms)), "rounds": [m / 1e3 for m in ms]}}}}
                for name, ms in rounds_ms.items()}
    return {"name": "m", "task": "image-classification", "batch_sizes": ["1"], "backends": backends,
            "flops_per_image": 1e9, "sgemm": {"1": {"gflops": 10.0, "rounds": [0.1] * len(rounds_ms["ort-fp32"])}},
            "preprocessing": {"speedup": 3.0, "speedup_iqr": [2.9, 3.1]}}


def test_goals_met_missed_unsettled_and_not_measured():
    goals = evaluate_goals([_model({"pytorch-eager-fp32": [300.0, 310.0, 290.0, 305.0],
                                    "ort-fp32": [150.0, 150.0, 150.0, 150.0],
                                    "ort-int8": [40.0, 60.0, 45.0, 55.0]})])
    status = {goal["goal"]: goal["status"] for goal in goals}
    assert status["ONNX fp32 vs PyTorch eager, batch 1"] == "met"  # every round about 2x >= 1.5x
    assert status["int8 (ort-int8) vs ONNX Runtime fp32, batch 1"] == "unsettled"  # rounds 2.5x..3.75x around 3x
    assert status["fastest fp32-parity backend (ort-fp32) % of sgemm, batch 1"] == "missed"  # 6.7 of 10 GFLOP/s
    assert status["runtime preprocessing vs transformers PIL processor"] == "missed"
    assert not any("bf16" in goal for goal in status)  # no batch 8 measured: the batch-8 goal is not listed
    assert not any("fused attention" in goal for goal in status)  # the retired experiment is no goal any more


INT8_GOAL = "int8 (ort-int8) vs ONNX Runtime fp32, batch 1"
FAST_INT8 = {"ort-fp32": [150.0, 150.0, 150.0, 150.0], "ort-int8": [30.0, 31.0, 29.0, 30.0]}  # 5x: speed met


def _int8_goal(accuracy: dict) -> dict:
    return next(g for g in evaluate_goals([_model(FAST_INT8)], accuracy=accuracy) if g["goal"] == INT8_GOAL)


def test_int8_goal_borrows_no_accuracy_from_an_unscored_artifact():
    reason = "not scored: a semantic-segmentation artifact; the held-out digits score only a classifier of the digits"
    goal = _int8_goal({"model": "/a", "source": "artifact", "not_scored": reason,
                       "rows": {"ort-fp32": {"skipped": reason}, "ort-int8": {"skipped": reason}}})
    assert goal["status"] == "not measured" and goal["measured"] == pytest.approx(5.0)
    assert f"accuracy not measured ({reason})" in goal["detail"] and "top-1 1" not in goal["detail"]


def test_int8_goal_uses_the_artifacts_own_figure_or_says_it_is_unmeasured():
    own = _int8_goal({"model": "/a", "source": "artifact", "held_out": 64,
                      "rows": {"ort-fp32": {"top1": 0.5}, "ort-int8": {"top1": 0.25}}})
    assert own["status"] == "missed" and "digits top-1 25.00% vs fp32 50.00% (NOT within 1 point)" in own["detail"]
    assert "demo" not in own["detail"]
    skipped = _int8_goal({"model": "/a", "source": "artifact", "held_out": 64,
                          "rows": {"ort-fp32": {"top1": 0.5}, "ort-int8": {"skipped": "not timed in this run"}}})
    assert skipped["status"] == "not measured"
    assert "digits top-1 not measured (ort-int8: not timed in this run)" in skipped["detail"]


def test_int8_goal_of_a_preset_names_the_demo_classifier_it_measured():
    goal = _int8_goal({"model": "beit-deploy/demo-classification", "source": "demo", "held_out": 359,
                       "rows": {"ort-fp32": {"top1": 0.9666}, "ort-int8": {"top1": 0.9666}}})
    assert goal["status"] == "met"
    assert "top-1 of beit-deploy/demo-classification (same export recipe, not this model's weights)" in goal["detail"]


def test_report_says_whose_accuracy_it_shows():
    from benchmarks.report.tables import accuracy_heading, accuracy_table

    unscored = {"model": "/a", "source": "artifact", "not_scored": "not scored: a semantic-segmentation artifact",
                "rows": {"ort-fp32": {"skipped": "not scored: a semantic-segmentation artifact"}}}
    text = accuracy_table(unscored)
    assert text.startswith("/a: not scored: a semantic-segmentation artifact") and "never trained on" not in text
    assert "| ort-fp32 | - | - | not scored: a semantic-segmentation artifact |" in text
    assert accuracy_heading(unscored) == "## Accuracy of the timed artifact per backend"
    assert accuracy_heading({"model": "beit-deploy/demo-classification", "rows": {}}).endswith("trained classifier "
                                                                                               "per backend")
