"""Backend rows that are beit_runtime task classes (Classifier, Segmenter, ...) on one graph variant or engine.

The task class comes from the task registry (``beit_runtime.tasks``): ``runtime_class`` names it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from beit_runtime.tasks import task

from ..workload.jobs import BackendJob

Notes = Callable[[Any], str]  # describes a loaded task class in the report's backend list


def random_feeds(inputs: Iterable[Any], *, batch: int, height: int, width: int, patch: int,
                 seed: int = 0) -> dict[str, np.ndarray]:
    """Random tensors for every engine input: images N(0,1), boolean patch masks with 40% set."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for spec in inputs:
        if np.dtype(spec.dtype) == np.bool_:
            feeds[spec.name] = rng.random((batch, (height // patch) * (width // patch))) < 0.4
        else:
            feeds[spec.name] = rng.standard_normal((batch, 3, height, width)).astype(spec.dtype)
    return feeds


def _engine_options(engine_backend: str, threads: int) -> dict[str, Any]:
    if engine_backend == "onnxruntime":
        return {"intra_op_threads": threads, "providers": ["CPUExecutionProvider"]}
    if engine_backend == "openvino":
        return {"intra_op_threads": threads}
    return {}


class RuntimeBackend:
    """The artifact's task class with one precision on one engine backend."""

    def __init__(self, job: BackendJob, *, precision: str, engine_backend: str, notes: Notes) -> None:
        import beit_runtime

        task_class = getattr(beit_runtime, task(job.model.task).runtime_class)
        self.model = task_class(
            job.model.artifact_dir, precision=precision, backend=engine_backend,
            batch_size=max(job.batch_sizes), **_engine_options(engine_backend, job.threads),
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


def runtime_factory(precision: str, engine_backend: str, notes: Notes) -> Callable[[BackendJob], RuntimeBackend]:
    """A factory for a RuntimeBackend; ``notes(model)`` describes it once loaded."""
    return lambda job: RuntimeBackend(job, precision=precision, engine_backend=engine_backend, notes=notes)


def ort_fp32_notes(model: Any) -> str:
    return "our fp32 graph, ONNX Runtime CPU EP"


def ort_fp16_notes(model: Any) -> str:
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        return "fp16 graph on ONNX Runtime CPU EP (this build also has CUDA; the CPU EP is measured)"
    return "fp16 graph on ONNX Runtime CPU EP: x86 has no fp16 GEMM kernels, so ORT inserts casts to fp32"


def int8_notes(model: Any) -> str:
    record = model.manifest.parity_for("int8")
    conversion = (record.conversion if record is not None else None) or {}
    method = conversion.get("method", "quantized")
    return f"our int8 graph ({method}, {conversion.get('quantized_op_types', '?')}), ONNX Runtime CPU EP"


def openvino_notes(graph: str) -> Notes:
    def notes(model: Any) -> str:
        precision = getattr(model.engine, "inference_precision", "")
        return f"our {graph} graph on OpenVINO CPU ({precision} inference precision)"

    return notes


def tensorrt_notes(precision: str) -> Notes:
    return lambda model: f"TensorRT engine built from the {precision} graph (LayerNorm/Softmax kept fp32)"
