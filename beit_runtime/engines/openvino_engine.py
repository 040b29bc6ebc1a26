"""OpenVINO backend (CPU): the project's ONNX graphs compiled by OpenVINO, read directly from the .onnx file.

``OpenVinoEngine(path, intra_op_threads=0, inference_precision="f32")``. The inference precision is always set
explicitly: on CPUs with bf16 units OpenVINO would otherwise pick bf16 by itself, and fp32 parity is
the product. ``"bf16"`` is accepted only where the CPU reports BF16 among its
OPTIMIZATION_CAPABILITIES (avx512_bf16 or AMX); elsewhere OpenVINO would silently run f32 while
claiming bf16, so ``PrecisionUnavailableError`` is raised instead. ``intra_op_threads`` (0 = OpenVINO's
choice; the name ONNX Runtime's engine takes too) is INFERENCE_NUM_THREADS.

Dynamic shapes: the batch axis stays dynamic. OpenVINO 2026.4's CPU plugin cannot compile the
dynamic-resolution graphs with every spatial axis dynamic (its MatMul refuses the rank-2 x rank-3
products of the interpolated position tables: "Can't create dummy inputs if argument shapes ranks
are not equal"), so a graph with dynamic non-batch axes is compiled once per input shape seen
(batch kept dynamic; about a second per new size for BEiT-base; the last ``MAX_SHAPES`` are kept).
Outputs match ONNX Runtime at every size (max-abs ~2e-6 on BEiT-base at 224, 320x256, 160x384).

Thread safety: a compiled model is shared; each call takes an InferRequest from a pool (creating one
when all are busy), so concurrent ``run`` calls never share a request. Results are copies owned by
the caller (OpenVINO's default ``share_outputs=False``), not views of request memory.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ArtifactError, BackendUnavailableError, InputError, PrecisionUnavailableError, missing_extra
from ..options import thread_count
from .base import EngineBase, TensorSpec, check_feeds

INFERENCE_PRECISIONS = {"f32": "f32", "bf16": "bf16"}
DEVICE = "CPU"


def _import_openvino() -> Any:  # the openvino module (no type information)
    try:
        import openvino
    except ImportError as error:
        needed = missing_extra("openvino", "openvino", needed_by="the OpenVINO backend")
        raise BackendUnavailableError(needed) from error
    return openvino


def cpu_capabilities() -> tuple[str, ...]:
    """OpenVINO's OPTIMIZATION_CAPABILITIES of the CPU (e.g. FP32, INT8, BF16)."""
    return tuple(_import_openvino().Core().get_property(DEVICE, "OPTIMIZATION_CAPABILITIES"))


def bf16_supported() -> bool:
    """True when the CPU has bf16 units OpenVINO uses (avx512_bf16 or AMX)."""
    return "BF16" in cpu_capabilities()


def _spec(port: Any) -> TensorSpec:  # an openvino Output port
    dtype = np.dtype(port.get_element_type().to_dtype())
    shape = tuple(dim.get_length() if dim.is_static else None for dim in port.get_partial_shape())
    return TensorSpec(name=port.get_any_name(), dtype=dtype, shape=shape)


def _config(*, intra_op_threads: int, inference_precision: str) -> dict[str, str | int]:
    if inference_precision not in INFERENCE_PRECISIONS:
        raise InputError(
            f"inference_precision must be one of {sorted(INFERENCE_PRECISIONS)}, got {inference_precision!r}"
        )
    threads = thread_count("intra_op_threads (0 = OpenVINO's choice)", intra_op_threads)
    if inference_precision == "bf16" and not bf16_supported():
        raise PrecisionUnavailableError(
            f"bf16 needs a CPU with bf16 units (avx512_bf16 or AMX); this one offers {list(cpu_capabilities())}. "
            "Use precision='fp32' here, or run on a CPU with bf16 support (e.g. Intel Sapphire Rapids, AMD Zen 4)"
        )
    config: dict[str, str | int] = {
        "INFERENCE_PRECISION_HINT": INFERENCE_PRECISIONS[inference_precision],
        "PERFORMANCE_HINT": "LATENCY",
    }
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    return config


MAX_SHAPES = 8


class _Compiled:
    """One CompiledModel and its pool of InferRequests (one is created whenever all are busy)."""

    def __init__(self, compiled: Any) -> None:  # an openvino CompiledModel
        self.compiled = compiled
        self._free: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def infer(self, feeds: Mapping[str, np.ndarray], names: list[str]) -> dict[str, np.ndarray]:
        try:
            request = self._free.get_nowait()
        except queue.Empty:
            request = self.compiled.create_infer_request()
        try:
            result = request.infer(dict(feeds))
            return {name: np.asarray(result[name]) for name in names}  # OVDict values own their data
        finally:
            self._free.put(request)


class OpenVinoEngine(EngineBase):
    """An OpenVINO model on the CPU; ``run`` is safe to call from several threads at once."""

    def __init__(self, path: str | Path, *, intra_op_threads: int = 0, inference_precision: str = "f32",
                 cache_dir: str | Path | None = None) -> None:
        self._ov = ov = _import_openvino()
        path = Path(path)
        if not path.is_file():
            raise ArtifactError(f"ONNX graph {path} does not exist")
        self._config = _config(intra_op_threads=intra_op_threads, inference_precision=inference_precision)
        if cache_dir is not None:
            self._config["CACHE_DIR"] = str(cache_dir)
        self._core = ov.Core()
        try:
            self._model = self._core.read_model(str(path))
        except RuntimeError as error:
            raise ArtifactError(f"OpenVINO could not read {path}: {str(error)[:500]}") from error
        self.path, self.inference_precision = path, inference_precision
        self.inputs = tuple(_spec(port) for port in self._model.inputs)
        self.outputs = tuple(_spec(port) for port in self._model.outputs)
        self._per_shape = any(dim is None for spec in self.inputs for dim in spec.shape[1:])
        self._compiled: dict[tuple[tuple[int, ...], ...], _Compiled] = {}
        self._lock = threading.Lock()
        if not self._per_shape:
            self._compiled[()] = _Compiled(self._compile(self._model))

    def _compile(self, model: Any) -> Any:  # openvino Model -> CompiledModel
        try:
            return self._core.compile_model(model, DEVICE, self._config)
        except RuntimeError as error:
            raise ArtifactError(f"OpenVINO could not compile {self.path}: {str(error)[:500]}") from error

    def _for_shapes(self, feeds: Mapping[str, np.ndarray]) -> _Compiled:
        key = tuple(tuple(feeds[spec.name].shape[1:]) for spec in self.inputs) if self._per_shape else ()
        with self._lock:
            if self._model is None:
                raise InputError("this engine is closed; load it again with load_engine(...)")
            found = self._compiled.pop(key, None)
            if found is None:
                model = self._model.clone()
                shapes = zip(self.inputs, key, strict=True)
                model.reshape({spec.name: self._ov.PartialShape([-1, *shape]) for spec, shape in shapes})
                found = _Compiled(self._compile(model))
            self._compiled[key] = found  # most recently used last
            while len(self._compiled) > MAX_SHAPES:
                del self._compiled[next(iter(self._compiled))]
        return found

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._model is None:
            raise InputError("this engine is closed; load it again with load_engine(...)")
        check_feeds(self.inputs, feeds)
        compiled = self._for_shapes(feeds)
        try:
            return compiled.infer({k: np.ascontiguousarray(v) for k, v in feeds.items()},
                                  [spec.name for spec in self.outputs])
        except RuntimeError as error:
            raise InputError(f"OpenVINO refused the inputs: {str(error)[:300]}") from error

    def close(self) -> None:
        with self._lock:
            self._model = None
            self._compiled = {}
