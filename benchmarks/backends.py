"""The backend registry: name -> (availability check, factory). Chosen once per worker process.

Every backend object offers ``engine_call(batch)`` and ``end_to_end_call(paths)``, each returning
a zero-argument callable that the timing loop calls; nothing inside the loop branches on the backend.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from .context import BackendJob

TASK_CLASSES = {
    "image-classification": "Classifier",
    "backbone": "FeatureExtractor",
    "semantic-segmentation": "Segmenter",
    "masked-image-modeling": "MaskedImageModeler",
}


class Backend(Protocol):
    notes: str

    def engine_call(self, batch: int) -> Callable[[], object]: ...

    def end_to_end_call(self, paths: list[Path]) -> Callable[[], object]: ...

    def close(self) -> None: ...


def random_feeds(inputs, *, batch: int, height: int, width: int, patch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random tensors for every engine input: images N(0,1), boolean patch masks with 40% set."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for spec in inputs:
        if np.dtype(spec.dtype) == np.bool_:
            feeds[spec.name] = rng.random((batch, (height // patch) * (width // patch))) < 0.4
        else:
            feeds[spec.name] = rng.standard_normal((batch, 3, height, width)).astype(spec.dtype)
    return feeds


class RuntimeBackend:
    """beit_runtime's task class (Classifier, Segmenter, ...) on one graph variant or engine."""

    def __init__(self, job: BackendJob, *, precision: str, engine_backend: str, notes: Callable) -> None:
        import beit_runtime

        task_class = getattr(beit_runtime, TASK_CLASSES[job.model.task])
        options = {"onnxruntime": {"intra_op_threads": job.threads, "providers": ["CPUExecutionProvider"]},
                   "openvino": {"intra_op_threads": job.threads}}.get(engine_backend, {})
        self.model = task_class(
            job.model.artifact_dir, precision=precision, backend=engine_backend,
            batch_size=max(job.batch_sizes), **options,
        )
        self.job = job
        self.notes = notes(self.model)

    def engine_call(self, batch: int) -> Callable[[], object]:
        info = self.job.model
        feeds = random_feeds(self.model.engine.inputs, batch=batch, height=info.height, width=info.width,
                             patch=int(info.config["patch_size"]))
        engine = self.model.engine
        return lambda: engine.run(feeds)

    def end_to_end_call(self, paths: list[Path]) -> Callable[[], object]:
        names = [str(path) for path in paths]
        return lambda: self.model(names)

    def close(self) -> None:
        self.model.close()


def _needs_graph(variant: str) -> Callable[[BackendJob], str | None]:
    def check(job: BackendJob) -> str | None:
        if variant in job.model.export_failures:
            return f"no '{variant}' graph: {job.model.export_failures[variant]}"
        if variant not in job.model.graph_variants:
            return f"the artifact has no '{variant}' graph (export with --{variant} or drop this backend)"
        return None

    return check


def _ort_fp16_notes(model) -> str:
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        return "fp16 graph on ONNX Runtime CPU EP (this build also has CUDA; the CPU EP is measured)"
    return "fp16 graph on ONNX Runtime CPU EP: x86 has no fp16 GEMM kernels, so ORT inserts casts to fp32"


def _int8_notes(model) -> str:
    conversion = ((model.manifest.data.get("parity") or {}).get("int8") or {}).get("conversion") or {}
    method = conversion.get("method", "quantized")
    return f"our int8 graph ({method}, {conversion.get('quantized_op_types', '?')}), ONNX Runtime CPU EP"


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
    notes = f"TensorRT engine built from the {precision} graph (LayerNorm/Softmax kept fp32)"
    return RuntimeBackend(job, precision=precision, engine_backend="tensorrt", notes=lambda model: notes)


def _torch(name: str) -> Callable[[BackendJob], Backend]:
    def factory(job: BackendJob) -> Backend:
        from . import torch_backends

        return getattr(torch_backends, name)(job)

    return factory


def _cuda_unavailable(job: BackendJob) -> str | None:
    from .machine import gpu_name

    if gpu_name() is None:
        return "no NVIDIA GPU here (nvidia-smi finds none)"
    from .torch_backends import cuda_unavailable

    return cuda_unavailable(job)


class FusedAttentionBackend:
    """The artifact's fp32 graph with attention fused into com.microsoft.MultiHeadAttention (an experiment)."""

    MAX_ABS = 1e-4
    end_to_end_supported = False  # timed engine-only (no task class around it)

    def __init__(self, job: BackendJob) -> None:
        from beit_runtime.engines import load_engine

        from .attention_fusion import fuse_graph_file

        source = Path(job.model.artifact_dir) / "model.onnx"
        target = Path(job.model.artifact_dir).parent / "fused-attention" / "model.onnx"
        fused = fuse_graph_file(source, target)
        options = {"backend": "onnxruntime", "providers": ["CPUExecutionProvider"], "intra_op_threads": job.threads}
        self.engine, reference = load_engine(target, **options), load_engine(source, **options)
        info = job.model
        worst = 0.0
        for batch in (1, 2):
            feeds = random_feeds(self.engine.inputs, batch=batch, height=info.height, width=info.width,
                                 patch=int(info.config["patch_size"]), seed=batch)
            ours, theirs = self.engine.run(feeds), reference.run(feeds)
            worst = max(worst, max(float(np.abs(ours[k] - theirs[k]).max()) for k in theirs))
        reference.close()
        if worst > self.MAX_ABS:
            raise RuntimeError(f"fused attention graph differs from the fp32 graph by max-abs {worst:.2e} > {self.MAX_ABS}")
        self.job = job
        self.notes = (f"experiment: fp32 graph with {fused} attention blocks as com.microsoft.MultiHeadAttention "
                      f"(attention_bias = the relative position bias); max-abs vs fp32 graph {worst:.1e}")

    def engine_call(self, batch: int) -> Callable[[], object]:
        info = self.job.model
        feeds = random_feeds(self.engine.inputs, batch=batch, height=info.height, width=info.width,
                             patch=int(info.config["patch_size"]))
        return lambda: self.engine.run(feeds)

    def close(self) -> None:
        self.engine.close()


def _openvino_unavailable(variant: str, *, bf16: bool = False) -> Callable[[BackendJob], str | None]:
    graph_missing = _needs_graph(variant)

    def check(job: BackendJob) -> str | None:
        if importlib.util.find_spec("openvino") is None:
            return 'OpenVINO is not installed (pip install "beit-deploy[openvino]")'
        if bf16:
            from beit_runtime.engines.openvino_engine import bf16_supported, cpu_capabilities

            if not bf16_supported():
                return f"this CPU has no bf16 units (avx512_bf16 / AMX); OpenVINO reports {list(cpu_capabilities())}"
        return graph_missing(job)

    return check


def _openvino_notes(precision: str) -> Callable:
    return lambda model: f"our {precision} graph on OpenVINO CPU ({getattr(model.engine, 'inference_precision', '')} inference precision)"


@dataclass(frozen=True)
class BackendSpec:
    """A benchmark row. ``runtime``: (precision, engine backend) when it is a beit_runtime task class (then the
    trained classifier's accuracy is measured for it too); ``int8_mode``: the int8 graph it needs, if any."""

    name: str
    unavailable: Callable[[BackendJob], str | None]
    factory: Callable[[BackendJob], Backend]
    runtime: tuple[str, str] | None = None
    int8_mode: str | None = None


def _runtime(precision: str, engine_backend: str, notes: Callable) -> Callable[[BackendJob], Backend]:
    """A factory for a RuntimeBackend; ``notes(model)`` describes it once loaded."""
    return lambda job: RuntimeBackend(job, precision=precision, engine_backend=engine_backend, notes=notes)


def _row(name: str, precision: str, engine_backend: str, unavailable, notes, *, int8_mode=None) -> BackendSpec:
    return BackendSpec(name, unavailable, _runtime(precision, engine_backend, notes), (precision, engine_backend),
                       int8_mode)


REGISTRY: dict[str, BackendSpec] = {
    spec.name: spec
    for spec in (
        BackendSpec("pytorch-eager-fp32", lambda job: None, _torch("pytorch_eager_fp32")),
        _row("ort-fp32", "fp32", "onnxruntime", _needs_graph("fp32"), lambda model: "our fp32 graph, ONNX Runtime CPU EP"),
        _row("ort-int8", "int8", "onnxruntime", _needs_graph("int8"), _int8_notes, int8_mode="dynamic"),
        _row("ort-int8-qdq", "int8", "onnxruntime", _needs_graph("int8"), _int8_notes, int8_mode="static"),
        _row("ort-fp16", "fp16", "onnxruntime", _needs_graph("fp16"), _ort_fp16_notes),
        BackendSpec("ort-fp32-fused-attention", _needs_graph("fp32"), FusedAttentionBackend),
        _row("openvino-fp32", "fp32", "openvino", _openvino_unavailable("fp32"), _openvino_notes("fp32")),
        _row("openvino-bf16", "bf16", "openvino", _openvino_unavailable("fp32", bf16=True), _openvino_notes("fp32")),
        _row("openvino-int8", "int8", "openvino", _openvino_unavailable("int8"), _openvino_notes("static QDQ int8"),
             int8_mode="static"),
        BackendSpec("tensorrt", _tensorrt_unavailable, _tensorrt),
        BackendSpec("pytorch-cuda-fp16", _cuda_unavailable, _torch("pytorch_cuda_fp16")),
    )
}
REFERENCE = "pytorch-eager-fp32"
DEFAULT_BACKENDS = tuple(REGISTRY)
