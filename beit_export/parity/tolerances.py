"""The tolerances exported graphs are held to, per precision and output kind.

``TOLERANCES[precision][kind]`` states, per output kind, how far a graph's outputs may drift from the
fp32 PyTorch model (measured on ONNX Runtime CPU, and on OpenVINO where installed; bf16 is OpenVINO's
bf16 inference precision on the fp32 graph):

* ``rel_l2``: ||out - ref|| / ||ref|| over the whole output;
* ``max_abs_scaled``: max |out - ref| / max |ref| (a max-abs bound that does not depend on the scale);
* ``top1_agreement``: fraction of argmax decisions (per image, per patch or per pixel) that agree, a near-tie
  (the reference's own margin under 0.1% of max |reference|, ``NEAR_TIE_SCALED``, or fp32's smaller budget)
  agreeing either way; the gate records how many in ``top1_near_ties``;
* ``pixel_agreement``: fraction of equal labels in a segmentation label map.

Output kinds: "logits" (classification; masked-image-modeling per-patch logits), "hidden_states"
(backbone features, pooled features, the stacked per-layer ``hidden_states`` output), "attention_weights"
(the stacked ``attentions`` output: softmax probabilities, so max-abs scaled is about max-abs),
"segmentation_logits" (per-pixel class scores, class axis 1) and "label_map" (argmax labels after upsampling).
``output_kind(task, name)`` maps a graph output to
its kind (the task registry's ``tolerance_kinds``, ``beit_runtime.tasks``); ``drift_metrics`` and
``check_tolerances`` compute and judge the figures.

The conversions that make the reduced-precision graphs live in ``beit_export.precision``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

from beit_runtime.tasks import TASKS

from ..errors import ExportError

TOLERANCES: dict[str, dict[str, dict[str, float]]] = {
    "fp32": {
        "logits": {"rel_l2": 1e-4, "max_abs_scaled": 1e-4, "top1_agreement": 1.0},
        "hidden_states": {"rel_l2": 1e-4, "max_abs_scaled": 1e-4},
        "attention_weights": {"rel_l2": 1e-4, "max_abs_scaled": 1e-4},
        "segmentation_logits": {"rel_l2": 1e-4, "max_abs_scaled": 1e-4, "top1_agreement": 0.999},
        "label_map": {"pixel_agreement": 0.999},
    },
    "fp16": {
        "logits": {"rel_l2": 1e-2, "max_abs_scaled": 2e-2, "top1_agreement": 0.95},
        "hidden_states": {"rel_l2": 1e-2, "max_abs_scaled": 2e-2},
        "attention_weights": {"rel_l2": 1e-2, "max_abs_scaled": 2e-2},
        "segmentation_logits": {"rel_l2": 1e-2, "max_abs_scaled": 2e-2, "top1_agreement": 0.98},
        "label_map": {"pixel_agreement": 0.98},
    },
    # bf16 keeps 8 mantissa bits (fp16: 11): about 8x fp16's rounding error
    "bf16": {
        "logits": {"rel_l2": 5e-2, "max_abs_scaled": 1e-1, "top1_agreement": 0.9},
        "hidden_states": {"rel_l2": 5e-2, "max_abs_scaled": 1e-1},
        "attention_weights": {"rel_l2": 5e-2, "max_abs_scaled": 1e-1},
        "segmentation_logits": {"rel_l2": 5e-2, "max_abs_scaled": 1e-1, "top1_agreement": 0.95},
        "label_map": {"pixel_agreement": 0.95},
    },
    "int8": {
        "logits": {"rel_l2": 0.1, "max_abs_scaled": 0.2, "top1_agreement": 0.8},
        "hidden_states": {"rel_l2": 0.1, "max_abs_scaled": 0.2},
        "attention_weights": {"rel_l2": 0.1, "max_abs_scaled": 0.2},
        "segmentation_logits": {"rel_l2": 0.1, "max_abs_scaled": 0.2, "top1_agreement": 0.9},
        "label_map": {"pixel_agreement": 0.9},
    },
}

# task -> {graph output -> tolerance kind}, from the task registry's ``tolerance_kinds``
OUTPUT_KINDS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {name: entry.tolerance_kinds for name, entry in TASKS.items()}
)
_CLASS_AXIS = {"logits": -1, "segmentation_logits": 1}


def output_kind(task: str, output_name: str) -> str:
    """The tolerance kind of graph output ``output_name`` of a ``task`` graph."""
    kinds = OUTPUT_KINDS.get(task)
    if kinds is None:
        raise ExportError(f"unknown task {task!r}; expected one of {sorted(OUTPUT_KINDS)}")
    if output_name not in kinds:
        raise ExportError(f"{task} graphs have outputs {sorted(kinds)}, not {output_name!r}")
    return kinds[output_name]


# a decision the reference makes by less than this fraction of max |reference| is a near-tie (at most the precision's
# max_abs_scaled budget): fp16's typical drift is of that order, so such decisions are coin flips at any precision
NEAR_TIE_SCALED = 1e-3


def near_tie_margin(precision: str, kind: str) -> float:
    """The ``near_tie`` the parity gate judges ``precision`` / ``kind`` with (see ``drift_metrics``)."""
    return min(NEAR_TIE_SCALED, TOLERANCES[precision][kind].get("max_abs_scaled", 0.0))


def drift_metrics(reference: np.ndarray, output: np.ndarray, *, kind: str, near_tie: float = 0.0) -> dict[str, float]:
    """Drift of ``output`` from ``reference`` (same shape), with the metrics ``kind`` is judged by.

    ``near_tie`` (a fraction of max |reference|; the parity gate passes ``near_tie_margin``): an argmax decision
    the reference itself makes by at most that margin (its top score minus its score for the class ``output``
    chose) is a near-tie, agreeing either way, and counted in ``top1_near_ties``. A tiny model's logits on random
    noise are often that close: one such flip among 3 images failed fp16 exports 10x inside their drift budget.
    """
    reference, output = np.asarray(reference), np.asarray(output)
    if reference.shape != output.shape:
        raise ExportError(f"output shape {output.shape} differs from the reference shape {reference.shape}")
    if kind == "label_map":
        return {"pixel_agreement": float(np.mean(reference == output))}
    ref, out = reference.astype(np.float64), output.astype(np.float64)
    diff = out - ref
    scale = float(np.max(np.abs(ref))) or 1.0
    metrics = {
        "rel_l2": float(np.linalg.norm(diff) / (np.linalg.norm(ref) or 1.0)),
        "max_abs": float(np.max(np.abs(diff))),
        "max_abs_scaled": float(np.max(np.abs(diff)) / scale),
    }
    if not np.all(np.isfinite(out)):
        metrics["rel_l2"] = metrics["max_abs"] = metrics["max_abs_scaled"] = float("inf")
    if kind in _CLASS_AXIS:
        metrics.update(_top1(ref, out, axis=_CLASS_AXIS[kind], margin=near_tie * scale))
    return metrics


def _top1(ref: np.ndarray, out: np.ndarray, *, axis: int, margin: float) -> dict[str, float]:
    chosen = np.argmax(out, axis=axis)
    agree = np.argmax(ref, axis=axis) == chosen
    reference_gap = np.max(ref, axis=axis) - np.take_along_axis(ref, np.expand_dims(chosen, axis), axis).squeeze(axis)
    near_ties = ~agree & (reference_gap <= margin)
    return {"top1_agreement": float(np.mean(agree | near_ties)), "top1_near_ties": int(np.sum(near_ties))}


def check_tolerances(metrics: dict[str, float], *, precision: str, kind: str) -> list[str]:
    """Failures of ``metrics`` against ``TOLERANCES[precision][kind]``, as readable strings (empty: pass)."""
    if precision not in TOLERANCES:
        raise ExportError(f"precision must be one of {sorted(TOLERANCES)}, got {precision!r}")
    if kind not in TOLERANCES[precision]:
        raise ExportError(f"output kind must be one of {sorted(TOLERANCES[precision])}, got {kind!r}")
    failures = []
    for name, limit in TOLERANCES[precision][kind].items():
        value = metrics.get(name)
        if value is None:
            continue
        agreement = name.endswith("agreement")
        if (value < limit) if agreement else not (value <= limit):
            relation = "at least" if agreement else "at most"
            failures.append(f"{name} = {value:.4g}, expected {relation} {limit:g} for {precision} {kind}")
    return failures
