"""CUDA graphs for ONNX Runtime's CUDA provider: one fixed-shape session per batch size asked for.

ONNX Runtime captures a CUDA graph (``enable_cuda_graph``) only for a session whose every node runs
on the CUDA provider and whose inputs and outputs stay at the same device addresses. So each batch
size in ``cuda_graph_batch_sizes`` gets its own session, made when that batch size is first run, with
the graph's batch axis fixed to it (``add_free_dimension_override_by_name``, which also lets ONNX
Runtime fold the shape arithmetic that would otherwise run on the CPU), and its own ``BoundRunner``
whose buffers never move. The first input shapes run at a batch size claim its graph; any other shape
(another batch size, or another image size at that batch size) runs on the plain session. A session
ONNX Runtime refuses to capture is recorded in ``fallbacks`` (batch size -> reason) and that batch
size runs on the plain session too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import InputError
from .onnxruntime_binding import CUDA_PROVIDER, BoundRunner, CopyCounter, ShapeKey, shape_key


def check_batch_sizes(batch_sizes: Sequence[int], *, providers: Sequence[str]) -> tuple[int, ...]:
    """Validate ``cuda_graph_batch_sizes`` against the session's providers; returns them sorted, unique."""
    sizes = tuple(batch_sizes)
    if any(isinstance(size, bool) or not isinstance(size, int) or size < 1 for size in sizes):
        raise InputError(f"cuda_graph_batch_sizes must be positive integers, got {list(sizes)}")
    if sizes and (not providers or providers[0] != CUDA_PROVIDER):
        raise InputError(
            f"cuda_graph_batch_sizes={list(sizes)} needs the session to run on {CUDA_PROVIDER} first, but its "
            f"providers are {list(providers)}; pass providers=['{CUDA_PROVIDER}'] on a CUDA machine with "
            "onnxruntime-gpu, or leave cuda_graph_batch_sizes empty"
        )
    return tuple(sorted(set(sizes)))


def batch_of(feeds: Mapping[str, Any]) -> int | None:
    """The batch size shared by every input (axis 0), or None when the inputs disagree or have none."""
    shapes = [tuple(value.shape) if hasattr(value, "ndim") else tuple(value.shape()) for value in feeds.values()]
    sizes = {shape[0] for shape in shapes if shape}
    return sizes.pop() if len(sizes) == 1 else None


class CudaGraphRunners:
    """Routes a run to the CUDA-graph session of its batch size, or returns None for the plain session."""

    def __init__(self, batch_sizes: Sequence[int], *, make_session: Callable[[int], Any], ort: Any,
                 output_names: Sequence[str], counter: CopyCounter,
                 probe_outputs: Callable[[Mapping[str, Any]], dict[str, Any]]) -> None:
        self.batch_sizes = tuple(batch_sizes)
        self.fallbacks: dict[int, str] = {}
        self._make_session, self._ort, self._output_names = make_session, ort, list(output_names)
        self._counter, self._probe = counter, probe_outputs
        self._runners: dict[int, BoundRunner] = {}
        self._claimed: dict[int, ShapeKey] = {}
        self._lock = threading.Lock()  # one session per batch size even when first runs race

    @property
    def captured(self) -> tuple[int, ...]:
        """Batch sizes whose CUDA-graph session exists and is in use."""
        return tuple(sorted(self._runners))

    def runner_for(self, feeds: Mapping[str, Any]) -> BoundRunner | None:
        """The CUDA-graph runner for these input shapes, or None: run them on the plain session."""
        batch = batch_of(feeds)
        if batch is None or batch not in self.batch_sizes or batch in self.fallbacks:
            return None
        key = shape_key(feeds)
        with self._lock:
            if self._claimed.setdefault(batch, key) != key:
                return None  # another image size already owns this batch size's graph
            runner = self._runners.get(batch)
            if runner is None and batch not in self.fallbacks:
                runner = self._start(batch, feeds)
            return runner

    def _start(self, batch: int, feeds: Mapping[str, Any]) -> BoundRunner | None:
        try:
            session = self._make_session(batch)
        except Exception as error:  # ONNX Runtime refuses capture with its own untyped errors
            self.fallbacks[batch] = f"ONNX Runtime could not make a CUDA-graph session: {error}"
            return None
        runner = BoundRunner(session, ort=self._ort, output_names=self._output_names, device="cuda",
                             counter=self._counter)
        try:
            runner.preallocate_outputs(feeds, like=self._probe(feeds))
            runner.run_on_device(feeds)  # the first run captures the graph; a refusal shows here
        except Exception as error:  # untyped ONNX Runtime errors again
            self.fallbacks[batch] = f"ONNX Runtime could not capture a CUDA graph: {error}"
            return None
        self._runners[batch] = runner
        return runner
