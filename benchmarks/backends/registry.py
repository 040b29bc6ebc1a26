"""The backend registry: name -> row (availability check, factory). Chosen once per worker process.

Every backend object offers ``engine_call(batch)`` and ``end_to_end_call(paths)``, each returning
a zero-argument callable that the timing loop calls; nothing inside the loop branches on the backend.
A row's ``title`` is how tables outside the run (README's figures) name it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..workload.jobs import BackendJob
from .ort_cuda import cuda_provider_missing, ort_cuda_factory
from .runtime import (
    Notes,
    int8_notes,
    openvino_notes,
    ort_fp16_notes,
    ort_fp32_notes,
    runtime_factory,
    tensorrt_notes,
)


class Backend(Protocol):
    notes: str

    def engine_call(self, batch: int) -> Callable[[], object]: ...

    def end_to_end_call(self, paths: list[Path]) -> Callable[[], object]: ...

    def close(self) -> None: ...


Unavailable = Callable[[BackendJob], str | None]


@dataclass(frozen=True)
class BackendSpec:
    """A benchmark row. ``runtime``: (precision, engine backend) when it is a beit_runtime task class (then the
    trained classifier's accuracy is measured for it too); ``graph``: the graph variant it needs exported;
    ``int8_mode``: the int8 graph it needs, if any."""

    name: str
    title: str
    unavailable: Unavailable
    factory: Callable[[BackendJob], Backend]
    runtime: tuple[str, str] | None = None
    graph: str | None = None
    int8_mode: str | None = None


def graph_missing(job: BackendJob, variant: str) -> str | None:
    """Why the job's artifact cannot give graph ``variant`` (None: it has it)."""
    if variant in job.model.export_failures:
        return f"no '{variant}' graph: {job.model.export_failures[variant]}"
    if variant not in job.model.graph_variants:
        return f"the artifact has no '{variant}' graph (export with --{variant} or drop this backend)"
    return None


def _openvino_unavailable(variant: str, *, bf16: bool = False) -> Unavailable:
    def check(job: BackendJob) -> str | None:
        if importlib.util.find_spec("openvino") is None:
            return 'OpenVINO is not installed (pip install "beit-deploy[openvino]")'
        if bf16:
            from beit_runtime.engines.openvino_engine import (
                bf16_supported,
                cpu_capabilities,
            )

            if not bf16_supported():
                return f"this CPU has no bf16 units (avx512_bf16 / AMX); OpenVINO reports {list(cpu_capabilities())}"
        return graph_missing(job, variant)

    return check


def _tensorrt_unavailable(job: BackendJob) -> str | None:
    if importlib.util.find_spec("tensorrt") is None:
        return "TensorRT is not installed (pip install beit-deploy[tensorrt] on a machine with an NVIDIA GPU)"
    if not job.model.engine_variants:
        return "the artifact has no TensorRT engine (build one with `beit-export build-engine` on the GPU machine)"
    return None


def _tensorrt(job: BackendJob) -> Backend:
    """The artifact's TensorRT engine (the fp16 one when there are several)."""
    variants = job.model.engine_variants
    precision = "fp16" if "fp16" in variants else variants[0]
    return runtime_factory(precision, "tensorrt", tensorrt_notes(precision))(job)


def _torch(*, device: str, dtype_name: str) -> Callable[[BackendJob], Backend]:
    def factory(job: BackendJob) -> Backend:
        from .pytorch import TorchBackend  # imports torch only when this row runs

        return TorchBackend(job, device=device, dtype_name=dtype_name)

    return factory


def _cuda_unavailable(job: BackendJob) -> str | None:
    from ..workload.machine import gpu_name

    if gpu_name() is None:
        return "no NVIDIA GPU here (nvidia-smi finds none)"
    from .pytorch import cuda_unavailable

    return cuda_unavailable(job)


def _ort(name: str, title: str, precision: str, notes: Notes, *, int8_mode: str | None = None) -> BackendSpec:
    return BackendSpec(name, title, lambda job: graph_missing(job, precision),
                       runtime_factory(precision, "onnxruntime", notes),
                       runtime=(precision, "onnxruntime"), graph=precision, int8_mode=int8_mode)


def _openvino(name: str, title: str, precision: str, graph: str, *, int8_mode: str | None = None) -> BackendSpec:
    notes = openvino_notes("static QDQ int8" if graph == "int8" else graph)
    return BackendSpec(name, title, _openvino_unavailable(graph, bf16=precision == "bf16"),
                       runtime_factory(precision, "openvino", notes), runtime=(precision, "openvino"), graph=graph,
                       int8_mode=int8_mode)


def _ort_cuda(name: str, title: str, precision: str, mode: str) -> BackendSpec:
    return BackendSpec(name, title, lambda job: cuda_provider_missing() or graph_missing(job, precision),
                       ort_cuda_factory(precision, mode), graph=precision)


REGISTRY: dict[str, BackendSpec] = {
    spec.name: spec
    for spec in (
        BackendSpec("pytorch-eager-fp32", "PyTorch eager fp32", lambda job: None,
                    _torch(device="cpu", dtype_name="float32")),
        _ort("ort-fp32", "ONNX Runtime fp32", "fp32", ort_fp32_notes),
        _ort("ort-int8", "ONNX Runtime int8 dynamic", "int8", int8_notes, int8_mode="dynamic"),
        _ort("ort-int8-qdq", "ONNX Runtime int8 (static QDQ graph)", "int8", int8_notes, int8_mode="static"),
        _ort("ort-fp16", "ONNX Runtime fp16 (CPU)", "fp16", ort_fp16_notes),
        _openvino("openvino-fp32", "OpenVINO fp32", "fp32", "fp32"),
        _openvino("openvino-bf16", "OpenVINO bf16", "bf16", "fp32"),
        _openvino("openvino-int8", "OpenVINO int8 (static QDQ graph)", "int8", "int8", int8_mode="static"),
        BackendSpec("tensorrt", "TensorRT", _tensorrt_unavailable, _tensorrt, graph="fp16"),
        BackendSpec("pytorch-cuda-fp16", "PyTorch CUDA fp16", _cuda_unavailable,
                    _torch(device="cuda", dtype_name="float16")),
        _ort_cuda("ort-cuda-fp32", "ONNX Runtime CUDA fp32", "fp32", "host"),
        _ort_cuda("ort-cuda-fp16", "ONNX Runtime CUDA fp16", "fp16", "host"),
        _ort_cuda("ort-cuda-fp16-iobound", "ONNX Runtime CUDA fp16, IO binding", "fp16", "iobound"),
        _ort_cuda("ort-cuda-fp16-cudagraph", "ONNX Runtime CUDA fp16, CUDA graph", "fp16", "cudagraph"),
    )
}
REFERENCE = "pytorch-eager-fp32"
DEFAULT_BACKENDS = tuple(REGISTRY)
