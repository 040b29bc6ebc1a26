"""ONNX Runtime backend: providers chosen in order TensorRT EP, CUDA EP, CPU unless given."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..errors import ArtifactError, BackendUnavailableError, InputError
from .base import EngineBase, TensorSpec, check_feeds

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


def _import_onnxruntime():
    try:
        import onnxruntime
    except ImportError as error:
        raise BackendUnavailableError(
            "onnxruntime is not installed; install it with `pip install beit-deploy` "
            "(or `pip install beit-deploy[gpu]` for onnxruntime-gpu)"
        ) from error
    return onnxruntime


def default_providers(available: Sequence[str]) -> list[str]:
    return [name for name in PREFERRED_PROVIDERS if name in available]


def _spec(node) -> TensorSpec:
    if node.type not in _ORT_TYPES:
        raise ArtifactError(f"graph tensor '{node.name}' has unsupported type {node.type}")
    shape = tuple(dim if isinstance(dim, int) else (dim or None) for dim in node.shape)
    return TensorSpec(name=node.name, dtype=np.dtype(_ORT_TYPES[node.type]), shape=shape)


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
    ) -> None:
        ort = _import_onnxruntime()
        path = Path(path)
        if not path.is_file():
            raise ArtifactError(f"ONNX graph {path} does not exist")
        available = ort.get_available_providers()
        chosen = list(providers) if providers is not None else default_providers(available)
        unknown = [name for name in chosen if name not in available]
        if unknown:
            raise BackendUnavailableError(
                f"ONNX Runtime providers {unknown} are not available here (available: {available}); "
                "install `beit-deploy[gpu]` for CUDA/TensorRT providers or pass providers=['CPUExecutionProvider']"
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = inter_op_threads
        options.graph_optimization_level = _optimization_level(ort, optimization_level)
        try:
            self._session = ort.InferenceSession(str(path), sess_options=options, providers=chosen)
        except Exception as error:  # onnxruntime raises its own untyped errors
            raise ArtifactError(f"ONNX Runtime could not load {path}: {error}") from error
        self.path = path
        self.providers = tuple(self._session.get_providers())
        self.inputs = tuple(_spec(node) for node in self._session.get_inputs())
        self.outputs = tuple(_spec(node) for node in self._session.get_outputs())

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._session is None:
            raise InputError("this engine is closed; load it again with load_engine(...)")
        check_feeds(self.inputs, feeds)
        names = [spec.name for spec in self.outputs]
        values = self._session.run(names, dict(feeds))
        return dict(zip(names, values))

    def close(self) -> None:
        self._session = None


def _optimization_level(ort, name: str):
    levels = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    if name not in levels:
        raise InputError(f"optimization_level must be one of {sorted(levels)}, got {name!r}")
    return levels[name]
