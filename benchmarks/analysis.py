"""Derived figures (GFLOP/s, % of sgemm, speed-ups) and the issue's speed goals, met or missed."""

from __future__ import annotations

from .backends import REFERENCE

GOAL_ONNX_VS_EAGER = 1.5
GOAL_PCT_SGEMM = 95.0
GOAL_INT8_VS_FP32 = 2.5
GOAL_PREPROCESS = 5.0
GOAL_SEGMENTATION = 1.5
GPU_BACKENDS = ("tensorrt", "pytorch-cuda-fp16")  # the CPU sgemm rate is no reference for these
SEGMENTATION_HINT = "not measured: add --model microsoft/beit-base-finetuned-ade-640-640"


def _p50(model: dict, backend: str, batch: str, mode: str = "engine") -> float | None:
    result = model["backends"].get(backend) or {}
    return (((result.get("batches") or {}).get(batch) or {}).get(mode) or {}).get("p50_ms")


def derive(model: dict) -> dict[str, dict[str, dict]]:
    """Per backend and batch: GFLOP/s, % of the same run's sgemm, speed-up vs PyTorch eager."""
    derived: dict[str, dict[str, dict]] = {}
    for name, result in model["backends"].items():
        for batch, entry in (result.get("batches") or {}).items():
            figures = {}
            p50 = entry["engine"]["p50_ms"]
            figures["gflops"] = round(model["flops_per_image"] * int(batch) / (p50 / 1e3) / 1e9, 2)
            sgemm = (model.get("sgemm") or {}).get(batch, {}).get("gflops")
            if sgemm and name not in GPU_BACKENDS:
                figures["pct_sgemm"] = round(100.0 * figures["gflops"] / sgemm, 1)
            for mode, key in (("engine", "speedup_engine"), ("end_to_end", "speedup_end_to_end")):
                reference, ours = _p50(model, REFERENCE, batch, mode), _p50(model, name, batch, mode)
                if reference and ours:
                    figures[key] = round(reference / ours, 2)
            derived.setdefault(name, {})[batch] = figures
    return derived


def _goal(model: str, goal: str, target: float, measured: float | None, unit: str, *, missing: str) -> dict:
    if measured is None:
        return {"model": model, "goal": goal, "target": target, "measured": None, "status": "not measured",
                "detail": missing}
    status = "met" if measured >= target else "missed"
    return {"model": model, "goal": goal, "target": target, "measured": round(measured, 2), "status": status,
            "detail": f"{measured:.2f}{unit} (goal >= {target}{unit})"}


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator and denominator else None


def _classification_goals(model: dict, batches: list[str]) -> list[dict]:
    name, goals = model["name"], []
    derived = model.get("derived") or {}
    for batch in batches:
        missing = f"ort-fp32 or {REFERENCE} not measured at batch {batch}"
        speedup = _ratio(_p50(model, REFERENCE, batch), _p50(model, "ort-fp32", batch))
        goals.append(_goal(name, f"ONNX fp32 vs PyTorch eager, batch {batch}", GOAL_ONNX_VS_EAGER, speedup, "x",
                           missing=missing))
        pct = (derived.get("ort-fp32") or {}).get(batch, {}).get("pct_sgemm")
        goals.append(_goal(name, f"ONNX fp32 % of sgemm rate, batch {batch}", GOAL_PCT_SGEMM, pct, "%",
                           missing=f"ort-fp32 or sgemm not measured at batch {batch}"))
        int8 = _ratio(_p50(model, "ort-fp32", batch), _p50(model, "ort-int8", batch))
        goals.append(_goal(name, f"int8 vs our fp32 graph, batch {batch}", GOAL_INT8_VS_FP32, int8, "x",
                           missing=f"ort-int8 or ort-fp32 not measured at batch {batch}"))
    return goals


def evaluate_goals(models: list[dict], *, goal_batches: tuple[str, ...] = ("1", "8")) -> list[dict]:
    """The issue's goals for every measured model; a goal with no figure is listed as not measured."""
    goals: list[dict] = []
    segmentation_seen = False
    for model in models:
        batches = [b for b in goal_batches if b in model.get("batch_sizes", [])] or list(model.get("batch_sizes", []))
        goals += _classification_goals(model, batches)
        speedup = (model.get("preprocessing") or {}).get("speedup")
        goals.append(_goal(model["name"], "runtime preprocessing vs transformers PIL processor", GOAL_PREPROCESS,
                           speedup, "x", missing="preprocessing comparison not run"))
        if model["task"] == "semantic-segmentation":
            segmentation_seen = True
            e2e = _ratio(_p50(model, REFERENCE, "1", "end_to_end"), _p50(model, "ort-fp32", "1", "end_to_end"))
            goals.append(_goal(model["name"], "segmentation end to end vs transformers, batch 1", GOAL_SEGMENTATION,
                               e2e, "x", missing="end-to-end at batch 1 not measured for both backends"))
    if not segmentation_seen:
        goals.append(_goal("microsoft/beit-base-finetuned-ade-640-640", "segmentation end to end vs transformers, "
                           "batch 1", GOAL_SEGMENTATION, None, "x", missing=SEGMENTATION_HINT))
    return goals
