"""ONNX Runtime backend: providers chosen in order TensorRT EP, CUDA EP, CPU unless given.

Under the CUDA provider the engine runs through IO binding (``onnxruntime_binding``): preallocated
device buffers per input shape, copies counted in ``copies``; ``run_on_device`` leaves the outputs on
the device for a next graph there. ``cuda_graph_batch_sizes`` adds one CUDA-graph session per batch
size (``onnxruntime_cuda_graph``); other shapes run on the plain session. CPU users see no change.

CPU-only sessions go through the optimized-model cache (``onnxruntime_cache``): the first load on a
machine writes the optimized graph, later loads read it with optimizations off; ``optimized_cache``
says what happened ("hit", "written", "off"). ``optimized_cache=False`` (or ``BEIT_DEPLOY_CACHE=off``)
loads the graph as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ..errors import (
    ArtifactError,
    BackendUnavailableError,
    BeitDeployError,
    EngineRunError,
    InputError,
    missing_extra,
    pip_install,
)
from . import onnxruntime_cache
from .base import EngineBase, TensorSpec, check_feeds
from .onnxruntime_binding import CUDA_PROVIDER, BoundRunner, CopyCounter, session_device
from .onnxruntime_cuda_graph import CudaGraphRunners, check_batch_sizes

PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
_ORT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}


def _import_onnxruntime() -> Any:  # the onnxruntime module (it ships no type information)
    try:
        import onnxruntime
    except ImportError as error:
        interrupt = _interrupt_in(error)
        if interrupt is not None:  # Ctrl-C while its extension loads: pybind11 says "initialization failed"
            raise interrupt.with_traceback(None) from None
        raise BackendUnavailableError(
            f"{missing_extra('onnxruntime', None)} (or `{pip_install('gpu')}` for onnxruntime-gpu)"
        ) from error
    return onnxruntime


def _interrupt_in(error: BaseException) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt (Ctrl-C, or a folder run's SIGTERM) that ``error``, an ImportError, stands for, if
    any: pybind11 turns any exception in a module's initialisation into ImportError("initialization failed")
    raised from it."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def default_providers(available: Sequence[str]) -> list[str]:
    return [name for name in PREFERRED_PROVIDERS if name in available]


def _spec(node: Any) -> TensorSpec:  # an onnxruntime NodeArg
    if node.type not in _ORT_TYPES:
        raise ArtifactError(f"graph tensor '{node.name}' has unsupported type {node.type}")
    shape = tuple(dim if isinstance(dim, int) else (dim or None) for dim in node.shape)
    return TensorSpec(name=node.name, dtype=np.dtype(_ORT_TYPES[node.type]), shape=shape)


def _chosen_providers(ort: Any, providers: Sequence[str] | None) -> list[str]:
    """The providers asked for (each must be available here), or the default order of those available."""
    available = ort.get_available_providers()
    chosen = list(providers) if providers is not None else default_providers(available)
    unknown = [name for name in chosen if name not in available]
    if unknown:
        raise BackendUnavailableError(
            f"ONNX Runtime providers {unknown} are not available here (available: {available}); "
            f"install them with `{pip_install('gpu')}` or pass providers=['CPUExecutionProvider']"
        )
    return chosen


class OnnxRuntimeEngine(EngineBase):
    """One ``InferenceSession``; ``run`` is safe to call from several threads at once."""

    def __init__(
        self,
        path: str | Path,
        *,
        providers: Sequence[str] | None = None,
        intra_op_threads: int = 0,
        inter_op_threads: int = 0,
        optimization_level: str = "all",
        io_binding: bool | None = None,
        cuda_graph_batch_sizes: Sequence[int] = (),
        optimized_cache: bool = True,
        cpu_memory_arena: bool = True,
    ) -> None:
        """``io_binding``: None (default) binds device buffers when the CUDA provider runs the session,
        True binds them on any provider (host buffers on the CPU one), False never.
        ``cuda_graph_batch_sizes``: batch sizes that each get a CUDA-graph session (CUDA provider only).
        ``optimized_cache``: load a CPU-only session through the optimized-model cache (module docstring).
        ``cpu_memory_arena``: False turns ONNX Runtime's CPU arena off, so memory goes back after each run."""
        ort = _import_onnxruntime()
        path = Path(path)
        if not path.is_file():
            raise ArtifactError(f"ONNX graph {path} does not exist")
        chosen = _chosen_providers(ort, providers)
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = inter_op_threads
        options.graph_optimization_level = _optimization_level(ort, optimization_level)
        options.enable_cpu_mem_arena = cpu_memory_arena
        cached = optimized_cache and not cuda_graph_batch_sizes
        self._session, self.optimized_cache = _load_session(ort, path, options, providers=chosen, cached=cached,
                                                            level=optimization_level)
        self.path = path
        self.providers = tuple(self._session.get_providers())
        self.inputs = tuple(_spec(node) for node in self._session.get_inputs())
        self.outputs = tuple(_spec(node) for node in self._session.get_outputs())
        self.copies = CopyCounter()
        self._bound = self._bound_runner(ort, io_binding, cuda_graphs=bool(cuda_graph_batch_sizes))
        self._graphs = self._graph_runners(ort, path, options, check_batch_sizes(
            cuda_graph_batch_sizes, providers=self.providers))

    def _bound_runner(self, ort: Any, io_binding: bool | None, *, cuda_graphs: bool) -> BoundRunner | None:
        device = session_device(self.providers)
        if io_binding is False and cuda_graphs:
            raise InputError("cuda_graph_batch_sizes needs IO binding (CUDA graphs replay on fixed device buffers); "
                             "leave io_binding at None or True")
        if io_binding is False or (io_binding is None and device != "cuda" and not cuda_graphs):
            return None
        return BoundRunner(self._session, ort=ort, output_names=[spec.name for spec in self.outputs],
                           device=device, counter=self.copies)

    def _graph_runners(self, ort: Any, path: Path, options: Any,
                       batch_sizes: tuple[int, ...]) -> CudaGraphRunners | None:
        if not batch_sizes:
            return None
        batch_axes = {spec.shape[0] for spec in self.inputs if spec.shape and isinstance(spec.shape[0], str)}

        def make_session(batch: int) -> Any:
            fixed = ort.SessionOptions()
            for name in ("intra_op_num_threads", "inter_op_num_threads", "graph_optimization_level"):
                setattr(fixed, name, getattr(options, name))
            for axis in batch_axes:
                fixed.add_free_dimension_override_by_name(axis, batch)
            providers = [(CUDA_PROVIDER, {"enable_cuda_graph": "1"})]
            return ort.InferenceSession(str(path), sess_options=fixed, providers=providers)

        if self._bound is None:  # _bound_runner makes one whenever batch sizes are given
            raise InputError("cuda_graph_batch_sizes needs IO binding; leave io_binding at None or True")
        return CudaGraphRunners(batch_sizes, make_session=make_session, ort=ort, counter=self.copies,
                                output_names=[spec.name for spec in self.outputs],
                                probe_outputs=self._bound.run_on_device)

    @property
    def cuda_graph_fallbacks(self) -> dict[int, str]:
        """Batch sizes asked for whose CUDA-graph session ONNX Runtime refused, with the reason."""
        return dict(self._graphs.fallbacks) if self._graphs is not None else {}

    @property
    def cuda_graphs_captured(self) -> tuple[int, ...]:
        """Batch sizes now running on their own CUDA-graph session."""
        return self._graphs.captured if self._graphs is not None else ()

    def copy_counts(self) -> dict[str, int]:
        """Copies between host and bound device buffers so far (all zero without IO binding)."""
        return self.copies.snapshot()

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._session is None:
            raise InputError("this engine is closed; load it again with load_engine(...)")
        check_feeds(self.inputs, feeds)
        runner = self._runner_for(feeds)
        names = [spec.name for spec in self.outputs]
        try:
            if runner is not None:
                return runner.run(feeds)
            return dict(zip(names, self._session.run(names, dict(feeds)), strict=True))
        except BeitDeployError:
            raise
        except Exception as error:  # onnxruntime raises its own untyped errors (Fail, InvalidArgument, ...)
            shapes = {name: tuple(np.shape(value)) for name, value in feeds.items()}
            raise EngineRunError(f"ONNX Runtime failed running {self.path.name} on inputs {shapes}: "
                                 f"{str(error).strip()}. The inputs passed the graph's checks, so this is a fault "
                                 "of the graph or of ONNX Runtime: report it with the artifact's manifest.json"
                                 ) from error

    def run_on_device(self, feeds: Mapping[str, Any]) -> dict[str, Any]:
        """Like ``run``, but inputs may be OrtValues from a previous ``run_on_device`` on the same device and
        the outputs stay on the device as OrtValues (valid until the next run of the same input shapes)."""
        if self._session is None:
            raise InputError("this engine is closed; load it again with load_engine(...)")
        expected = {spec.name for spec in self.inputs}
        if set(feeds) != expected:
            raise InputError(f"engine inputs are {sorted(expected)}, got {sorted(feeds)}")
        arrays = {name: value for name, value in feeds.items() if isinstance(value, np.ndarray)}
        check_feeds([spec for spec in self.inputs if spec.name in arrays], arrays)
        runner = self._runner_for(feeds)
        if runner is None:
            raise InputError("run_on_device needs IO binding; load the engine with io_binding=True "
                             "(it is on by default under the CUDA provider)")
        return runner.run_on_device(feeds)

    def _runner_for(self, feeds: Mapping[str, Any]) -> BoundRunner | None:
        graph_runner = self._graphs.runner_for(feeds) if self._graphs is not None else None
        return graph_runner if graph_runner is not None else self._bound

    def close(self) -> None:
        self._session = self._bound = self._graphs = None


def _new_session(ort: Any, path: Path, options: Any, providers: Sequence[str]) -> Any:
    return ort.InferenceSession(str(path), sess_options=options, providers=list(providers))


def _load_session(ort: Any, path: Path, options: Any, *, providers: Sequence[str], cached: bool,
                  level: str, retry: bool = True) -> tuple[Any, str]:
    """(session, cache status). A cache entry ONNX Runtime refuses is removed and the graph itself loaded
    (and the entry written again, once); a failed write loads the graph without the cache."""
    if cached:
        fresh = _copy_options(ort, options)
        load = onnxruntime_cache.plan_load(ort, path, options, providers=tuple(providers), level=level)
        try:
            session = _new_session(ort, load.path, load.options, providers)
            return session, onnxruntime_cache.commit(load)
        except Exception as error:  # onnxruntime raises its own untyped errors
            onnxruntime_cache.discard(load)
            if load.status == "hit":
                onnxruntime_cache.warn_once(f"ONNX Runtime refused the cached optimized graph {load.path} "
                                            f"({error}); it was removed and is written again")
                return _load_session(ort, path, fresh, providers=providers, cached=retry, level=level, retry=False)
            options = fresh
    try:
        return _new_session(ort, path, options, providers), "off"
    except Exception as error:  # onnxruntime raises its own untyped errors
        raise ArtifactError(f"ONNX Runtime could not load {path}: {error}") from error


def _copy_options(ort: Any, options: Any) -> Any:
    """A fresh SessionOptions with the thread counts, optimization level and CPU arena of ``options``."""
    fresh = ort.SessionOptions()
    for name in ("intra_op_num_threads", "inter_op_num_threads", "graph_optimization_level", "enable_cpu_mem_arena"):
        setattr(fresh, name, getattr(options, name))
    return fresh


def _optimization_level(ort: ModuleType, name: str) -> Any:  # a GraphOptimizationLevel
    levels = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    if name not in levels:
        raise InputError(f"optimization_level must be one of {sorted(levels)}, got {name!r}")
    return levels[name]
