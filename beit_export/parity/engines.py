"""Parity of the same graph on the other CPU engines the runtime offers (OpenVINO f32, bf16, fp16, int8).

ONNX Runtime is the exporter's reference engine (``gate.check_parity``). When OpenVINO is installed,
the fp32 graph is also run on OpenVINO at f32 (held to the fp32 tolerances) and, where the CPU has bf16
units, at bf16 (held to the bf16 tolerances); the fp16 graph runs on OpenVINO at f32 inference
precision on its fp16 weights (fp16 tolerances); the static QDQ int8 graph runs on OpenVINO's int8
kernels (int8 tolerances). Each measured record is a full parity report; a record that could not be
measured says why. An fp32 failure raises ``ParityError`` (fp32 parity is the artifact's contract). A
bf16, fp16 or int8 failure is recorded with ``passed: false`` and the runtime refuses that engine for
that precision (``beit_runtime.parity_gate``).

OpenVINO's int8 kernels depend on the CPU's instruction set: 2026.4 on an AVX2-only AMD EPYC computes
the symmetric-int8 QDQ convolutions of the demo segmentation model's UperNet bottlenecks with rel-L2
0.18 where ONNX Runtime, and OpenVINO on AVX-512/AMX, give 0.02-0.04. So on a CPU beyond AVX2 the
int8 graph is also run with OpenVINO's oneDNN capped at AVX2 (``ONEDNN_MAX_CPU_ISA=AVX2``, in a child
process: the cap is read once per process) and recorded as ``openvino-avx2``: the artifact may be
deployed on such a CPU, where the runtime judges OpenVINO by it (``beit_runtime.parity_gate``). The
capped run reproduces the EPYC figure (0.183 here). The exporter keeps an int8 graph only when every
record passes (``beit_export.pipeline``; ``precision.int8_layers`` says which layers stay float for it).
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from beit_runtime.engines import backend_info
from beit_runtime.errors import missing_extra
from beit_runtime.parity_gate import AVX2_RECORD, BEYOND_AVX2, cpu_flags

from ..errors import ParityError
from .cases import ParityCase
from .gate import evaluate, format_report

OPENVINO = backend_info("openvino")
_CAPPED_ISA = {"ONEDNN_MAX_CPU_ISA": "AVX2"}


def _not_measured(reason: str) -> dict[str, Any]:
    return {"measured": False, "reason": reason}


def _bf16_supported() -> bool:
    from beit_runtime.engines.openvino_engine import bf16_supported

    return bf16_supported()


def _avx2_capped_plan() -> tuple[str, str] | dict[str, Any]:
    flags = cpu_flags()
    if "avx2" not in flags:
        return _not_measured("this CPU has no AVX2 (or its flags are unknown): an AVX2 cap would not apply")
    if not flags.intersection(BEYOND_AVX2):
        return _not_measured("this CPU's best instruction set is AVX2: the 'openvino' record is its figure")
    return (AVX2_RECORD, "int8")


def _plan(variant: str, *, dynamic_int8: bool) -> dict[str, tuple[str, str] | dict[str, Any]]:
    """engine record name -> (parity engine, precision judged) or a not-measured record, for one graph variant
    (those the runtime runs on OpenVINO: the backends' table's, not the GPU graphs)."""
    if variant not in OPENVINO.graph_precisions:
        return {}
    if not OPENVINO.installed():
        return {OPENVINO.name: _not_measured(missing_extra(OPENVINO.module, OPENVINO.extra,
                                                            needed_by="measuring the graph on OpenVINO"))}
    if variant == "fp32":
        bf16_name = OPENVINO.parity_name("bf16")
        bf16 = (bf16_name, "bf16") if _bf16_supported() else _not_measured(
            "this CPU has no bf16 units (avx512_bf16 or AMX): OpenVINO would run f32")
        return {OPENVINO.name: (OPENVINO.name, "fp32"), bf16_name: bf16}
    if variant == "int8":
        if dynamic_int8:
            return {OPENVINO.name: _not_measured("dynamic int8 graphs run in f32 on OpenVINO; export --int8-mode "
                                                 "static")}
        return {OPENVINO.name: (OPENVINO.name, "int8"), AVX2_RECORD: _avx2_capped_plan()}
    return {OPENVINO.name: (OPENVINO.name, variant)}


def _evaluate_avx2_capped(graph: Path, cases: list[ParityCase], *, task: str, precision: str) -> dict[str, Any]:
    """``evaluate`` on OpenVINO in a child process whose oneDNN is capped at AVX2 (a not-measured record when the
    child fails)."""
    with tempfile.TemporaryDirectory(prefix="beit-avx2-parity-") as scratch:
        request, answer = Path(scratch) / "cases.pkl", Path(scratch) / "report.json"
        request.write_bytes(pickle.dumps({"graph": str(graph), "cases": cases, "task": task, "precision": precision}))
        done = subprocess.run([sys.executable, "-m", __name__, str(request), str(answer)],
                              env={**os.environ, **_CAPPED_ISA}, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            return _not_measured(f"the OpenVINO run capped at AVX2 ended with exit status {done.returncode}: "
                                 f"{done.stderr.strip()[-500:]}")
        report: dict[str, Any] = json.loads(answer.read_text(encoding="utf-8"))
    report["backend"] += ", oneDNN capped at AVX2 (ONEDNN_MAX_CPU_ISA=AVX2) as on CPUs without AVX-512 or VNNI"
    return report


def _evaluate(graph: Path, cases: list[ParityCase], *, task: str, precision: str, engine: str) -> dict[str, Any]:
    if engine == AVX2_RECORD:
        return _evaluate_avx2_capped(graph, cases, task=task, precision=precision)
    return evaluate(graph, cases, task=task, precision=precision, engine=engine)


def engine_parity(graph: Path, cases: list[ParityCase], *, task: str, variant: str,
                  dynamic_int8: bool = False) -> dict[str, dict[str, Any]]:
    """The other engines' parity records of ``graph`` (graph variant ``variant``); raises ParityError on a failure."""
    records = {}
    for name, planned in _plan(variant, dynamic_int8=dynamic_int8).items():
        if isinstance(planned, dict):
            records[name] = planned
            continue
        engine, precision = planned
        report = _evaluate(Path(graph), cases, task=task, precision=precision, engine=engine)
        if report.get("measured") is False:
            records[name] = report
            continue
        report["measured"] = True
        if not report["passed"] and precision == "fp32":
            raise ParityError(
                format_report(report, graph=f"{Path(graph).name} on {engine}") + f"\nThe graph does not reproduce "
                f"the PyTorch model on {engine}; no artifact was written.", report=report)
        records[name] = report
    return records


def engine_failures(records: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The failures of every measured record that failed, each prefixed with its engine's record name."""
    return [f"{name}: {failure}" for name, record in records.items()
            if record.get("measured") and not record.get("passed") for failure in record.get("failures", [])]


def _child(request: Path, answer: Path) -> None:
    """The AVX2-capped run: read the pickled request written by ``_evaluate_avx2_capped``, write the report."""
    job = pickle.loads(request.read_bytes())  # our own temporary file, written by the parent process
    report = evaluate(Path(job["graph"]), job["cases"], task=job["task"], precision=job["precision"],
                      engine="openvino")
    answer.write_text(json.dumps(report), encoding="utf-8")


if __name__ == "__main__":
    _child(Path(sys.argv[1]), Path(sys.argv[2]))
