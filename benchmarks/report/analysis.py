"""Derived figures (GFLOP/s, % of sgemm, speed-ups) and the goals, judged with their spread.

Every backend and the sgemm reference were timed round-robin (``benchmarks.harness.interleave``), so a ratio
is taken per round (``beit_runtime.planning.timing.per_round_ratio``, the one definition) and reported as
the median with its inter-quartile range. A goal is "met" when the whole IQR clears the target, "missed"
when the whole IQR falls short, and "unsettled" when the target lies inside the IQR: the machine's noise is
wider than the goal's margin.
"""

from __future__ import annotations

import numpy as np

from beit_runtime.planning.timing import per_round_ratio, spread
from beit_runtime.tasks import task

from ..backends import REFERENCE

GOAL_ONNX_VS_EAGER = 1.5
GOAL_PCT_SGEMM = 95.0
GOAL_BF16_VS_FP32 = 2.0
GOAL_INT8_VS_FP32 = 3.0
GOAL_PREPROCESS = 5.0
GOAL_SEGMENTATION_INT8 = 2.0
ACCURACY_POINTS = 1.0
FP32_ROW = "ort-fp32"  # what "slower than fp32 here" compares with
FP32_PARITY = ("ort-fp32", "openvino-fp32")
INT8_ROWS = ("ort-int8", "ort-int8-qdq", "openvino-int8")
GPU_BACKENDS = ("tensorrt", "pytorch-cuda-fp16")  # the CPU sgemm rate is no reference for these


def _rounds(model: dict, backend: str, batch: str, mode: str = "engine") -> np.ndarray | None:
    if backend == "sgemm":
        values = ((model.get("sgemm") or {}).get(batch) or {}).get("rounds")
    else:
        entry = (((model["backends"].get(backend) or {}).get("batches") or {}).get(batch) or {}).get(mode) or {}
        values = entry.get("rounds")
    return np.asarray(values, dtype=np.float64) if values else None


def speed_ratio(model: dict, fast: str, slow: str, batch: str, mode: str = "engine") -> dict | None:
    """How many times faster ``fast`` is than ``slow`` at ``batch``: the spread of the per-round ratios."""
    fast_times, slow_times = _rounds(model, fast, batch, mode), _rounds(model, slow, batch, mode)
    if fast_times is None or slow_times is None:
        return None
    return per_round_ratio(slow=slow_times, fast=fast_times)


def pct_sgemm(model: dict, backend: str, batch: str) -> dict | None:
    """The backend's GFLOP/s as a percentage of the same round's sgemm GFLOP/s."""
    times, sgemm = _rounds(model, backend, batch), _rounds(model, "sgemm", batch)
    record = (model.get("sgemm") or {}).get(batch) or {}
    if times is None or sgemm is None or backend in GPU_BACKENDS or not record.get("gflops"):
        return None
    set_flops = record["gflops"] * 1e9 * float(np.median(sgemm))
    n = min(times.size, sgemm.size)
    ours = model["flops_per_image"] * int(batch) / times[:n]
    return spread(100.0 * ours / (set_flops / sgemm[:n]))


def derive(model: dict) -> dict[str, dict[str, dict]]:
    """Per backend and batch: GFLOP/s, % of sgemm (median of rounds), speed-up vs PyTorch eager."""
    derived: dict[str, dict[str, dict]] = {}
    for name, result in model["backends"].items():
        for batch, entry in (result.get("batches") or {}).items():
            seconds = entry["engine"]["p50_ms"] / 1e3
            figures = {"gflops": round(model["flops_per_image"] * int(batch) / seconds / 1e9, 2)}
            pct = pct_sgemm(model, name, batch)
            if pct:
                figures["pct_sgemm"], figures["pct_sgemm_iqr"] = pct["median"], [pct["q1"], pct["q3"]]
            for mode, key in (("engine", "speedup_engine"), ("end_to_end", "speedup_end_to_end")):
                ratio = speed_ratio(model, name, REFERENCE, batch, mode)
                if ratio and name != REFERENCE:
                    figures[key], figures[key + "_iqr"] = ratio["median"], [ratio["q1"], ratio["q3"]]
            versus_fp32 = speed_ratio(model, name, FP32_ROW, batch) if name != FP32_ROW else None
            if versus_fp32:
                figures["vs_fp32"] = versus_fp32["median"]
                figures["vs_fp32_iqr"] = [versus_fp32["q1"], versus_fp32["q3"]]
                figures["slower_than_fp32"] = versus_fp32["q3"] < 1.0
            derived.setdefault(name, {})[batch] = figures
    return derived


def judge(model: str, goal: str, target: float, measured: dict | None, unit: str, *, missing: str,
          extra: str = "") -> dict:
    """A goal row from a {median, q1, q3} spread (or None: not measured)."""
    if measured is None:
        return {"model": model, "goal": goal, "target": target, "measured": None, "status": "not measured",
                "detail": missing}
    q1, median, q3 = measured["q1"], measured["median"], measured["q3"]
    status = "met" if q1 >= target else "missed" if q3 < target else "unsettled"
    rounds = measured.get("rounds", "?")
    detail = f"{median:.2f}{unit} [IQR {q1:.2f}-{q3:.2f}, {rounds} rounds] (goal >= {target}{unit})"
    return {"model": model, "goal": goal, "target": target, "measured": median, "iqr": [q1, q3], "status": status,
            "detail": detail + extra}


def _best(candidates: list[tuple[str, dict | None]]) -> tuple[str | None, dict | None]:
    measured = [(name, value) for name, value in candidates if value]
    return max(measured, key=lambda item: item[1]["median"]) if measured else (None, None)


def _accuracy_note(accuracy: dict, row: str | None) -> tuple[str, bool | None]:
    """The goal's accuracy clause and whether ``row`` is within ACCURACY_POINTS of fp32 (None: not measured).
    An artifact run's figures are its own graphs'; a preset run's are the demo classifier's, exported by the same
    recipe (random weights have no accuracy to measure), and the clause says so."""
    accuracy = accuracy or {}
    if accuracy.get("not_scored"):
        return f"; accuracy not measured ({accuracy['not_scored']})", None
    rows = accuracy.get("rows") or {}
    fp32, ours = (rows.get("ort-fp32") or {}).get("top1"), (rows.get(row) or {}).get("top1") if row else None
    if fp32 is None or ours is None:
        missing = [(name, (rows.get(name) or {}).get("skipped")) for name in ("ort-fp32", row) if name]
        why = "; ".join(f"{name}: {reason}" for name, reason in missing if reason)
        return f"; digits top-1 not measured{f' ({why})' if why else ''}", None
    within = abs(ours - fp32) * 100 <= ACCURACY_POINTS
    verdict = "within" if within else "NOT within"
    whose = "" if accuracy.get("source") == "artifact" else f" of {accuracy.get('model', 'the demo classifier')} " \
        "(same export recipe, not this model's weights)"
    return f"; digits top-1{whose} {ours * 100:.2f}% vs fp32 {fp32 * 100:.2f}% ({verdict} 1 point)", within


def _with_accuracy(goal: dict, accuracy: dict, row: str | None) -> dict:
    """A speed goal is met only with the accuracy within a point of fp32; unmeasured accuracy leaves it not
    measured, never borrowed from another model."""
    note, within = _accuracy_note(accuracy, row)
    goal["detail"] += note
    if goal["status"] == "met" and within is None:
        goal["status"] = "not measured"
    elif goal["status"] == "met" and not within:
        goal["status"] = "missed"
    return goal


def _cpu_goals(model: dict, batches: list[str], accuracy: dict) -> list[dict]:
    name, goals = model["name"], []
    for batch in batches:
        row, pct = _best([(b, pct_sgemm(model, b, batch)) for b in FP32_PARITY])
        goals.append(judge(name, f"fastest fp32-parity backend ({row or '-'}) % of sgemm, batch {batch}",
                           GOAL_PCT_SGEMM, pct, "%", missing=f"no fp32-parity backend or sgemm at batch {batch}"))
        goals.append(judge(name, f"ONNX fp32 vs PyTorch eager, batch {batch}", GOAL_ONNX_VS_EAGER,
                           speed_ratio(model, "ort-fp32", REFERENCE, batch), "x", missing="ort-fp32 or eager missing"))
        row, ratio = _best([(b, speed_ratio(model, b, "ort-fp32", batch)) for b in INT8_ROWS])
        goal = judge(name, f"int8 ({row or '-'}) vs ONNX Runtime fp32, batch {batch}", GOAL_INT8_VS_FP32, ratio, "x",
                     missing="no int8 row measured")
        goals.append(_with_accuracy(goal, accuracy, row))
    if "8" in batches:
        goal = judge(name, "OpenVINO bf16 vs ONNX Runtime fp32, batch 8", GOAL_BF16_VS_FP32,
                     speed_ratio(model, "openvino-bf16", "ort-fp32", "8"), "x",
                     missing=(model["backends"].get("openvino-bf16") or {}).get("skipped",
                                                                                "openvino-bf16 not measured"))
        goals.append(_with_accuracy(goal, accuracy, "openvino-bf16"))
    return goals


def _preprocessing_goal(model: dict) -> dict:
    pre = model.get("preprocessing") or {}
    measured = None
    if pre.get("speedup") is not None:
        iqr = pre.get("speedup_iqr") or [pre["speedup"], pre["speedup"]]
        measured = {"median": pre["speedup"], "q1": iqr[0], "q3": iqr[1], "rounds": pre.get("rounds", "?")}
    return judge(model["name"], "runtime preprocessing vs transformers PIL processor", GOAL_PREPROCESS, measured, "x",
                 missing=f"preprocessing comparison not run ({pre.get('error', 'skipped')})")


def evaluate_goals(models: list[dict], *, accuracy: dict | None = None,
                   goal_batches: tuple[str, ...] = ("1", "8")) -> list[dict]:
    """The goals for every measured model; a goal with no figure is listed as not measured."""
    goals: list[dict] = []
    for model in models:
        batches = [b for b in goal_batches if b in model.get("batch_sizes", [])] or list(model.get("batch_sizes", []))
        if task(model["task"]).benchmark_goals == "int8-batch-1":
            row, ratio = _best([(b, speed_ratio(model, b, "ort-fp32", "1")) for b in INT8_ROWS])
            goals.append(judge(model["name"], f"segmentation int8 ({row or '-'}) vs our fp32 graph, batch 1",
                               GOAL_SEGMENTATION_INT8, ratio, "x", missing="no int8 row measured at batch 1"))
        else:
            goals += _cpu_goals(model, batches, accuracy or {})
        goals.append(_preprocessing_goal(model))
    return goals
