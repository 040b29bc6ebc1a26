"""The parity gate: an exported graph, run by ONNX Runtime, against the PyTorch model it came from.

Cases: fresh random inputs at the checkpoint's resolution (batch 2 and batch 1, so the dynamic
batch axis is exercised), with ``dynamic_resolution`` two more resolutions (one larger, one
non-square), and real photos from scikit-image decoded and preprocessed by transformers' own PIL
image processor. The reference is the Hugging Face model itself (``interpolate_pos_encoding=True``
at other resolutions), never the export wrapper. Figures per output: max-abs, max-abs scaled by the
reference's largest magnitude, relative L2, and top-1 agreement (argmax over classes / vocabulary);
tolerances come from ``beit_export.precision.TOLERANCES`` plus the absolute bound the export contract
states for fp32 logits (max-abs <= 1e-4).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from beit_runtime.engines import load_engine

from . import precision as precision_rules
from .errors import ParityError
from .modeling import config_image_size
from .sample_images import hf_preprocess, sample_photos
from .tasks import base_model, resolve_task_spec

ABSOLUTE_MAX_ABS = {"fp32": {"logits": 1e-4, "segmentation_logits": 1e-4}}
MASK_RATIO = 0.4


@dataclass
class ParityCase:
    """Named graph feeds plus the PyTorch model's outputs for them."""

    name: str
    feeds: dict[str, np.ndarray]
    reference: dict[str, np.ndarray]




def parity_resolutions(config, *, dynamic_resolution: bool) -> list[tuple[int, int, int]]:
    """(batch, height, width) of the random-input cases."""
    height, width = config_image_size(config)
    patch = int(config.patch_size)
    cases = [(2, height, width), (1, height, width)]
    if dynamic_resolution:
        grow = max(2, round(height / patch / 2)) * patch
        cases.append((1, height + grow, width + grow))
        cases.append((3, max(2 * patch, height - 2 * patch), width + 2 * grow))
    return cases


@torch.no_grad()
def reference_outputs(checkpoint, feeds: dict[str, np.ndarray], output_names: list[str]) -> dict[str, np.ndarray]:
    """The Hugging Face model's outputs for ``feeds`` (names as in the graph)."""
    model, config = checkpoint.model, checkpoint.config
    pixel_values = torch.from_numpy(feeds["pixel_values"])
    kwargs: dict[str, Any] = {}
    if tuple(pixel_values.shape[-2:]) != config_image_size(config):
        kwargs["interpolate_pos_encoding"] = True
    if "bool_masked_pos" in feeds:
        kwargs["bool_masked_pos"] = torch.from_numpy(feeds["bool_masked_pos"])
    network = base_model(model) if checkpoint.task == "backbone" else model
    result = network(pixel_values=pixel_values, **kwargs)
    return {name: getattr(result, name).float().numpy() for name in output_names}


def _feeds(pixel_values: np.ndarray, task_spec, config, generator: torch.Generator) -> dict[str, np.ndarray]:
    feeds = {"pixel_values": np.ascontiguousarray(pixel_values, dtype=np.float32)}
    if "bool_masked_pos" in task_spec.input_names:
        batch, _, height, width = pixel_values.shape
        patches = (height // config.patch_size) * (width // config.patch_size)
        mask = torch.rand((batch, patches), generator=generator) < MASK_RATIO
        feeds["bool_masked_pos"] = mask.numpy()
    return feeds


def build_cases(checkpoint, *, dynamic_resolution: bool = False, seed: int = 0, photos: bool = True,
                model_type: str | None = None) -> list[ParityCase]:
    """Random and photo cases with their PyTorch references."""
    task_spec = resolve_task_spec(checkpoint.model, checkpoint.task)
    config, generator = checkpoint.config, torch.Generator().manual_seed(seed)
    channels = int(getattr(config, "num_channels", 3))
    cases = []
    for batch, height, width in parity_resolutions(config, dynamic_resolution=dynamic_resolution):
        pixels = torch.randn((batch, channels, height, width), generator=generator).numpy()
        cases.append(_case(f"random b{batch} {height}x{width}", pixels, checkpoint, task_spec, generator))
    if photos:
        for shape, pixels in photo_batches(checkpoint.preprocessing, model_type=model_type or config.model_type):
            cases.append(_case(f"photos b{len(pixels)} {shape[0]}x{shape[1]}", pixels, checkpoint, task_spec, generator))
    return cases


def _case(name, pixels, checkpoint, task_spec, generator) -> ParityCase:
    feeds = _feeds(pixels, task_spec, checkpoint.config, generator)
    return ParityCase(name=name, feeds=feeds, reference=reference_outputs(checkpoint, feeds, task_spec.output_names))


def photo_batches(preprocessing, *, model_type: str) -> list[tuple[tuple[int, int], np.ndarray]]:
    """scikit-image's photos preprocessed by HF's PIL processor, grouped into batches by resulting size."""
    groups: dict[tuple[int, int], list[np.ndarray]] = {}
    for _, image in sample_photos():
        pixels = hf_preprocess([image], preprocessing, model_type=model_type).numpy()[0]
        groups.setdefault(tuple(pixels.shape[-2:]), []).append(pixels)
    return [(shape, np.stack(items)) for shape, items in groups.items()]


def _judge(metrics: dict[str, float], *, precision: str, kind: str) -> list[str]:
    failures = precision_rules.check_tolerances(metrics, precision=precision, kind=kind)
    limit = ABSOLUTE_MAX_ABS.get(precision, {}).get(kind)
    if limit is not None and not metrics.get("max_abs", 0.0) <= limit:
        failures.append(f"max_abs = {metrics['max_abs']:.4g}, expected at most {limit:g} for {precision} {kind}")
    return failures


def _tolerances(task: str, output_names: list[str], precision: str) -> dict[str, dict[str, float]]:
    table = {}
    for name in output_names:
        kind = precision_rules.output_kind(task, name)
        table[name] = dict(precision_rules.TOLERANCES[precision][kind], kind=kind)
        if kind in ABSOLUTE_MAX_ABS.get(precision, {}):
            table[name]["max_abs"] = ABSOLUTE_MAX_ABS[precision][kind]
    return table


def _worst(per_case: list[dict[str, float]]) -> dict[str, float]:
    worst: dict[str, float] = {}
    for metrics in per_case:
        for key, value in metrics.items():
            if key == "passed":
                continue
            pick = min if key.endswith("agreement") else max
            worst[key] = pick(worst[key], value) if key in worst else value
    return worst


def evaluate(graph: Path, cases: list[ParityCase], *, task: str, precision: str = "fp32") -> dict[str, Any]:
    """Run ``graph`` on every case with ONNX Runtime (CPU) and judge the drift; returns the report."""
    engine = load_engine(graph, backend="onnxruntime", providers=["CPUExecutionProvider"])
    try:
        names = [spec.name for spec in engine.outputs]
        case_reports, failures, per_output = [], [], {name: [] for name in names}
        for case in cases:
            outputs = engine.run(case.feeds)
            case_report = {"name": case.name, "inputs": {k: list(v.shape) for k, v in case.feeds.items()}, "outputs": {}}
            for name in names:
                kind = precision_rules.output_kind(task, name)
                metrics = precision_rules.drift_metrics(case.reference[name], outputs[name], kind=kind)
                problems = _judge(metrics, precision=precision, kind=kind)
                failures += [f"{case.name}: {name}: {problem}" for problem in problems]
                case_report["outputs"][name] = dict(metrics, passed=not problems)
                per_output[name].append(metrics)
            case_reports.append(case_report)
    finally:
        engine.close()
    return {
        "passed": not failures,
        "precision": precision,
        "backend": "onnxruntime CPUExecutionProvider",
        "reference": "transformers PyTorch model (fp32, CPU)",
        "tolerances": _tolerances(task, names, precision),
        "outputs": {name: _worst(values) for name, values in per_output.items()},
        "cases": case_reports,
        "failures": failures,
    }


def format_report(report: dict[str, Any], *, graph: Path | str = "graph") -> str:
    """A readable multi-line summary: one line per output, then the failures."""
    status = "PASSED" if report["passed"] else "FAILED"
    lines = [f"parity {status} for {graph} ({report['precision']}, {len(report['cases'])} cases):"]
    for name, metrics in report["outputs"].items():
        figures = ", ".join(f"{key} {value:.3g}" for key, value in metrics.items())
        lines.append(f"  {name}: worst {figures}")
    lines += [f"  FAIL {failure}" for failure in report["failures"][:20]]
    if len(report["failures"]) > 20:
        lines.append(f"  ... and {len(report['failures']) - 20} more failures")
    return "\n".join(lines)


def check_parity(graph: Path, checkpoint, *, precision: str = "fp32", dynamic_resolution: bool = False,
                 seed: int = 0, photos: bool = True, cases: list[ParityCase] | None = None) -> dict[str, Any]:
    """Evaluate ``graph`` against ``checkpoint.model``; return the report, raise ParityError when it fails."""
    if cases is None:
        cases = build_cases(checkpoint, dynamic_resolution=dynamic_resolution, seed=seed, photos=photos)
    report = evaluate(Path(graph), cases, task=checkpoint.task, precision=precision)
    if not report["passed"]:
        raise ParityError(
            format_report(report, graph=graph) + "\nThe exported graph does not reproduce the PyTorch model; "
            "no artifact was written. Re-run with a supported transformers version or report the figures above.",
            report=report,
        )
    return report


@torch.no_grad()
def check_postprocess_parity(graph: Path, cases: list[ParityCase], *, precision: str = "fp32") -> dict[str, Any]:
    """The fused segmentation post-processing graph vs ``post_process_semantic_segmentation``'s arithmetic
    (bilinear, align_corners=False, then argmax) on the reference logits of ``cases``; raises ParityError."""
    engine = load_engine(graph, backend="onnxruntime", providers=["CPUExecutionProvider"])
    case_reports, failures = [], []
    try:
        for case in cases:
            height, width = case.feeds["pixel_values"].shape[-2:]
            for target in ((height, width), (height * 3 // 2 + 1, width - 3)):
                logits = case.reference["logits"]
                scores = torch.nn.functional.interpolate(
                    torch.from_numpy(logits), size=target, mode="bilinear", align_corners=False
                )
                expected = scores.argmax(dim=1).numpy()
                got = engine.run({"logits": logits, "target_size": np.asarray(target, dtype=np.int64)})["labels"]
                metrics = precision_rules.drift_metrics(expected, got.astype(expected.dtype), kind="label_map")
                problems = _judge(metrics, precision=precision, kind="label_map")
                name = f"{case.name} -> {target[0]}x{target[1]}"
                failures += [f"{name}: labels: {problem}" for problem in problems]
                case_reports.append({"name": name, "outputs": {"labels": dict(metrics, passed=not problems)}})
    finally:
        engine.close()
    report = {
        "passed": not failures, "precision": precision, "backend": "onnxruntime CPUExecutionProvider",
        "reference": "torch bilinear (align_corners=False) upsampling + argmax of the PyTorch logits",
        "tolerances": {"labels": dict(precision_rules.TOLERANCES[precision]["label_map"], kind="label_map")},
        "outputs": {"labels": _worst([c["outputs"]["labels"] for c in case_reports])},
        "cases": case_reports, "failures": failures,
    }
    if failures:
        raise ParityError(format_report(report, graph=graph), report=report)
    return report
