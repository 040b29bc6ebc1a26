"""The parity gate: an exported graph, run by ONNX Runtime, against the PyTorch model it came from.

Figures per output: max-abs, max-abs scaled by the reference's largest magnitude, relative L2, and
top-1 agreement (argmax over classes / vocabulary); tolerances come from
``beit_export.parity.tolerances.TOLERANCES`` plus the absolute bound the export contract states for
fp32 logits (max-abs <= 1e-4). Cases come from ``beit_export.parity.cases``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from beit_runtime.engines import backend_info, load_engine

from ..errors import ParityError
from .cases import ParityCase, build_cases
from .tolerances import TOLERANCES, check_tolerances, drift_metrics, near_tie_margin, output_kind

ABSOLUTE_MAX_ABS = {"fp32": {"logits": 1e-4, "segmentation_logits": 1e-4}}


def _judge(metrics: dict[str, float], *, precision: str, kind: str) -> list[str]:
    failures = check_tolerances(metrics, precision=precision, kind=kind)
    limit = ABSOLUTE_MAX_ABS.get(precision, {}).get(kind)
    if limit is not None and not metrics.get("max_abs", 0.0) <= limit:
        failures.append(f"max_abs = {metrics['max_abs']:.4g}, expected at most {limit:g} for {precision} {kind}")
    return failures


def _tolerances(task: str, output_names: list[str], precision: str) -> dict[str, dict[str, float]]:
    table = {}
    for name in output_names:
        kind = output_kind(task, name)
        table[name] = dict(TOLERANCES[precision][kind], kind=kind)
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


_OPENVINO = backend_info("openvino")
# how each parity run loads its engine: engine record name (the backends' table's ``parity_name``) -> (load_engine
# options, the report's "backend" text)
ENGINES = {
    "onnxruntime": ({"backend": "onnxruntime", "providers": ["CPUExecutionProvider"]},
                    "onnxruntime CPUExecutionProvider"),
    _OPENVINO.parity_name("fp32"): ({"backend": "openvino", "inference_precision": "f32"},
                                    "openvino CPU (f32 inference precision)"),
    _OPENVINO.parity_name("bf16"): ({"backend": "openvino", **_OPENVINO.engine_options("bf16")},
                                    "openvino CPU (bf16 inference precision)"),
}


def evaluate(graph: Path, cases: list[ParityCase], *, task: str, precision: str = "fp32",
             engine: str = "onnxruntime") -> dict[str, Any]:
    """Run ``graph`` on every case with ``engine`` (a key of ``ENGINES``) and judge the drift; returns the report."""
    options, described = ENGINES[engine]
    runner = load_engine(graph, **options)
    try:
        return _report(_run_cases(runner, cases, task=task, precision=precision), task=task, precision=precision,
                       backend=described)
    finally:
        runner.close()


def _run_cases(engine, cases: list[ParityCase], *, task: str, precision: str) -> tuple[list, list, dict]:
    names = [spec.name for spec in engine.outputs]
    case_reports, failures, per_output = [], [], {name: [] for name in names}
    for case in cases:
        outputs = engine.run(case.feeds)
        case_report = {"name": case.name, "inputs": {k: list(v.shape) for k, v in case.feeds.items()}, "outputs": {}}
        for name in names:
            kind = output_kind(task, name)
            metrics = drift_metrics(case.reference[name], outputs[name], kind=kind,
                                    near_tie=near_tie_margin(precision, kind))
            problems = _judge(metrics, precision=precision, kind=kind)
            failures += [f"{case.name}: {name}: {problem}" for problem in problems]
            case_report["outputs"][name] = dict(metrics, passed=not problems)
            per_output[name].append(metrics)
        case_reports.append(case_report)
    return case_reports, failures, per_output


def _report(results: tuple[list, list, dict], *, task: str, precision: str, backend: str) -> dict[str, Any]:
    case_reports, failures, per_output = results
    names = list(per_output)
    return {
        "passed": not failures,
        "precision": precision,
        "backend": backend,
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


DEFAULT_ADVICE = "Re-run with a supported transformers version or report the figures above."


def calibration_advice(images: int | None) -> str:
    """The advice of a failed static int8 graph, calibrated on ``images`` of the user's (None: the shipped photos)."""
    used = f"{images} image(s) of --calibration-data" if images else "the shipped sample photos"
    return (f"The int8 graph was calibrated on {used}; too few or too uniform calibration images (e.g. one black "
            "image) give activation ranges that do not fit real inputs. Pass --calibration-data with a folder of a "
            "few hundred varied images like the ones the model will see (--calibration-size N), or drop --int8.")


def check_parity(graph: Path, checkpoint, *, precision: str = "fp32", dynamic_resolution: bool = False,
                 seed: int = 0, photos: bool = True, cases: list[ParityCase] | None = None,
                 shown_as: Path | str | None = None, advice: str = DEFAULT_ADVICE) -> dict[str, Any]:
    """Evaluate ``graph`` against ``checkpoint.model``; return the report, raise ParityError when it fails.
    The error names ``shown_as`` (e.g. the final artifact path of a staged graph) and ends with ``advice``."""
    if cases is None:
        cases = build_cases(checkpoint, dynamic_resolution=dynamic_resolution, seed=seed, photos=photos)
    report = evaluate(Path(graph), cases, task=checkpoint.task, precision=precision)
    if not report["passed"]:
        raise ParityError(
            format_report(report, graph=shown_as or graph) + "\nThe exported graph does not reproduce the PyTorch "
            f"model; no artifact was written. {advice}",
            report=report,
        )
    return report


@torch.no_grad()
def check_postprocess_parity(graph: Path, cases: list[ParityCase], *, precision: str = "fp32",
                             shown_as: Path | str | None = None) -> dict[str, Any]:
    """The fused segmentation post-processing graph vs ``post_process_semantic_segmentation``'s arithmetic
    (bilinear, align_corners=False, then argmax) on the reference logits of ``cases``; raises ParityError (naming
    ``shown_as`` when given)."""
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
                metrics = drift_metrics(expected, got.astype(expected.dtype), kind="label_map")
                problems = _judge(metrics, precision=precision, kind="label_map")
                name = f"{case.name} -> {target[0]}x{target[1]}"
                failures += [f"{name}: labels: {problem}" for problem in problems]
                case_reports.append({"name": name, "outputs": {"labels": dict(metrics, passed=not problems)}})
    finally:
        engine.close()
    report = {
        "passed": not failures, "precision": precision, "backend": "onnxruntime CPUExecutionProvider",
        "reference": "torch bilinear (align_corners=False) upsampling + argmax of the PyTorch logits",
        "tolerances": {"labels": dict(TOLERANCES[precision]["label_map"], kind="label_map")},
        "outputs": {"labels": _worst([c["outputs"]["labels"] for c in case_reports])},
        "cases": case_reports, "failures": failures,
    }
    if failures:
        raise ParityError(format_report(report, graph=shown_as or graph), report=report)
    return report
