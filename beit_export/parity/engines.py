"""Parity of the same graph on the other CPU engines the runtime offers (OpenVINO f32 and bf16).

ONNX Runtime is the exporter's reference engine (``gate.check_parity``). When OpenVINO is installed,
the fp32 graph is also run on OpenVINO at f32 (held to the fp32 tolerances) and, where the CPU has bf16
units, at bf16 (held to the bf16 tolerances); the static QDQ int8 graph runs on OpenVINO's int8
kernels (int8 tolerances). Each measured record is a full parity report; a record that could not be
measured says why. An fp32 failure raises ``ParityError`` (fp32 parity is the artifact's contract). A
bf16 or int8 failure is recorded with ``passed: false`` and the runtime refuses that engine for that
precision (``beit_runtime.model_base``): e.g. OpenVINO 2026.4 on an AVX2-only CPU computes the
symmetric-int8 QDQ convolutions of a segmentation head with rel-L2 0.18 where ONNX Runtime gives
0.04 (the demo segmentation model); asymmetric uint8 activations would fix it there but TensorRT needs
zero points of 0.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from ..errors import ParityError
from .cases import ParityCase
from .gate import evaluate, format_report

INSTALL_HINT = 'install beit-deploy[openvino] to measure it'


def _not_measured(reason: str) -> dict[str, Any]:
    return {"measured": False, "reason": reason}


def _bf16_supported() -> bool:
    from beit_runtime.engines.openvino_engine import bf16_supported

    return bf16_supported()


def _plan(variant: str, *, dynamic_int8: bool) -> dict[str, tuple[str, str] | dict]:
    """engine record name -> (parity engine, precision judged) or a not-measured record, for one graph variant."""
    if importlib.util.find_spec("openvino") is None:
        return {"openvino": _not_measured(f"openvino is not installed; {INSTALL_HINT}")} if variant != "fp16" else {}
    if variant == "fp32":
        bf16 = ("openvino-bf16", "bf16") if _bf16_supported() else _not_measured(
            "this CPU has no bf16 units (avx512_bf16 or AMX): OpenVINO would run f32")
        return {"openvino": ("openvino", "fp32"), "openvino-bf16": bf16}
    if variant == "int8":
        if dynamic_int8:
            return {"openvino": _not_measured("dynamic int8 graphs run in f32 on OpenVINO; export --int8-mode static")}
        return {"openvino": ("openvino", "int8")}
    return {}


def engine_parity(graph: Path, cases: list[ParityCase], *, task: str, variant: str,
                  dynamic_int8: bool = False) -> dict[str, dict[str, Any]]:
    """The other engines' parity records of ``graph`` (graph variant ``variant``); raises ParityError on a failure."""
    records = {}
    for name, planned in _plan(variant, dynamic_int8=dynamic_int8).items():
        if isinstance(planned, dict):
            records[name] = planned
            continue
        engine, precision = planned
        report = dict(evaluate(Path(graph), cases, task=task, precision=precision, engine=engine), measured=True)
        if not report["passed"] and precision == "fp32":
            raise ParityError(
                format_report(report, graph=f"{Path(graph).name} on {engine}") + f"\nThe graph does not reproduce "
                f"the PyTorch model on {engine}; no artifact was written.", report=report)
        records[name] = report
    return records
