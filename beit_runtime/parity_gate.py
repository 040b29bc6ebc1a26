"""The runtime's parity gate: which of the exporter's parity records judges the engine a model is about to run,
and the refusal, naming what can run instead, when that record failed (``parity_policy="enforce"``).

ONNX Runtime's record is the graph's own (the exporter refuses a graph it fails); the other backends' are the
graph's ``engines`` records, named by the backends' table (``engines.BACKEND_INFO``: ``parity_name``).
OpenVINO's int8 kernels differ per instruction set (``beit_export.parity.engines``), so the exporter also
measures the int8 graph with oneDNN capped at AVX2 and records it as ``openvino-avx2``. Where OpenVINO's
oneDNN runs at AVX2 here (a CPU with AVX2 and none of AVX-512, AVX-VNNI or AMX in ``/proc/cpuinfo``, or
``ONEDNN_MAX_CPU_ISA=AVX2`` in the environment, which caps it the same way), that record judges OpenVINO
when the artifact has a measured one; elsewhere the ``openvino`` record does.
"""

from __future__ import annotations

import os

from .engines import GRAPH_BACKENDS, backend_for_precision, backend_info
from .errors import ManifestError
from .manifest import Manifest, ParityRecord
from .planning.machine import machine_description

AVX2_RECORD = "openvino-avx2"
ISA_CAP_VARIABLE = "ONEDNN_MAX_CPU_ISA"
BEYOND_AVX2 = ("avx512f", "avx_vnni", "amx_int8")  # /proc/cpuinfo flags of the ISAs oneDNN prefers to AVX2


def cpu_flags() -> frozenset[str]:
    """The CPU's kernel flags as the plans record them (``planning.machine``, read once; empty where unknown)."""
    return frozenset(machine_description()["kernel_flags"])


def runs_at_avx2() -> bool:
    """True when OpenVINO's oneDNN runs at AVX2 here: capped by ONEDNN_MAX_CPU_ISA=AVX2, or a CPU without better."""
    if os.environ.get(ISA_CAP_VARIABLE, "").strip().upper() == "AVX2":
        return True
    flags = cpu_flags()
    return "avx2" in flags and not flags.intersection(BEYOND_AVX2)


def judging_record(manifest: Manifest, variant: str, backend: str, *,
                   precision: str | None = None) -> tuple[str, ParityRecord | None]:
    """(record name, measured report or None) of graph ``variant`` run on ``backend`` at ``precision`` (default:
    the graph's own; bf16 runs the fp32 graph) here."""
    info = backend_info(backend)
    name = info.parity_name(precision or variant)
    if info.parity_reference:
        return name, manifest.parity_for(variant)
    if info.kernels_vary_by_isa and name == info.name and runs_at_avx2():
        capped = manifest.parity_for(variant, engine=AVX2_RECORD)
        if capped is not None:
            return AVX2_RECORD, capped
    return name, manifest.parity_for(variant, engine=name)


def check_engine_parity(manifest: Manifest, variant: str, backend: str, *, precision: str) -> None:
    """ManifestError when the exporter's record of graph ``variant`` on ``backend`` at ``precision`` failed; the
    error names what can run instead."""
    name, record = judging_record(manifest, variant, backend, precision=precision)
    if backend_info(backend).parity_reference or record is None or record.passed:  # the exporter refuses those
        return
    figures = ", ".join(f"{out}: rel_l2 {m.get('rel_l2', float('nan')):.3g}" for out, m in record.outputs.items())
    where = " (OpenVINO runs at AVX2 here)" if name == AVX2_RECORD else ""
    raise ManifestError(
        f"the exporter measured the '{variant}' graph of {manifest.folder} on {name}{where} outside the "
        f"{record.precision} tolerances ({figures}); {_instead(manifest, variant, backend, precision)}"
    )


def _instead(manifest: Manifest, variant: str, backend: str, precision: str) -> str:
    """What can run instead of a refused engine: backends whose record for the graph passed, else fp32."""
    anyway = "or parity_policy='ignore' to run it anyway (e.g. to measure it)"
    only_backend = backend_for_precision(precision, "auto")
    if only_backend is not None:
        return f"precision={precision!r} runs on {only_backend!r} only: use precision='fp32', {anyway}"
    passed = [other for other in GRAPH_BACKENDS
              if other != backend and (found := judging_record(manifest, variant, other)[1]) and found.passed]
    if not passed:
        return f"no other backend's record for it passed: use precision='fp32', {anyway}"
    choices = " or ".join(f"backend={other!r}" for other in passed)
    return f"use {choices} for precision={precision!r} (its record for this graph passed), {anyway}"
