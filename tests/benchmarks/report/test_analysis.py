"""benchmarks.report.analysis: goals are judged from per-round ratios with their spread."""

from __future__ import annotations

import numpy as np

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
