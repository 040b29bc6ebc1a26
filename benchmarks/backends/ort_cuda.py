"""ONNX Runtime CUDA rows (issue 21): the artifact's fp32/fp16 graph on the CUDA provider in one I/O mode.

Modes: ``host`` (numpy feeds, ONNX Runtime copies them itself), ``iobound`` (preallocated device
buffers per shape) and ``cudagraph`` (plus one captured CUDA graph per batch size the job times). The
end-to-end call is the artifact's task class on the CUDA provider (IO binding is on there by default).
Rows are unavailable, with the reason, where onnxruntime has no CUDA provider (``beit-deploy[gpu]``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from beit_runtime.tasks import task

from ..workload.jobs import BackendJob
from .runtime import random_feeds

CUDA = "CUDAExecutionProvider"
MODES = ("host", "iobound", "cudagraph")


def cuda_provider_missing() -> str | None:
    import onnxruntime

    if CUDA not in onnxruntime.get_available_providers():
        return "onnxruntime has no CUDAExecutionProvider here (pip install beit-deploy[gpu] on an NVIDIA GPU machine)"
    return None


class OrtCudaBackend:
    """One graph variant of the job's artifact on the CUDA provider, in one I/O mode."""

    def __init__(self, job: BackendJob, *, precision: str, mode: str) -> None:
        import beit_runtime
        from beit_runtime.engines import load_engine

        task_class = getattr(beit_runtime, task(job.model.task).runtime_class)
        self.model = task_class(job.model.artifact_dir, precision=precision, backend="onnxruntime",
                                batch_size=max(job.batch_sizes), providers=[CUDA])
        options: dict[str, Any] = {"providers": [CUDA], "io_binding": mode != "host"}
        if mode == "cudagraph":
            options["cuda_graph_batch_sizes"] = tuple(job.batch_sizes)
        self.engine = load_engine(self.model.manifest.graph_path(precision), **options)
        self.job = job
        self.notes = f"our {precision} graph on ONNX Runtime's CUDA EP, {mode} I/O"

    def engine_call(self, batch: int) -> Callable[[], object]:
        info = self.job.model
        feeds = random_feeds(self.engine.inputs, batch=batch, height=info.height, width=info.width,
                             patch=int(info.config["patch_size"]))
        engine = self.engine
        return lambda: engine.run(feeds)

    def end_to_end_call(self, paths: list[Path]) -> Callable[[], object]:
        names = [str(path) for path in paths]
        return lambda: self.model(names)

    def close(self) -> None:
        self.engine.close()
        self.model.close()


def ort_cuda_factory(precision: str, mode: str) -> Callable[[BackendJob], OrtCudaBackend]:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return lambda job: OrtCudaBackend(job, precision=precision, mode=mode)
