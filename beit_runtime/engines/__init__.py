"""Engines: choose a backend once, here, then talk to it through the ``Engine`` protocol; what each backend runs
is the table of ``backends`` (``BACKEND_INFO``)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ArtifactError, InputError
from .backends import BACKEND_INFO, GRAPH_BACKENDS, BackendInfo, backend_for_precision, backend_info
from .base import Engine, EngineBase, TensorSpec, check_feeds

BACKENDS = ("auto", *BACKEND_INFO)
_TENSORRT_SUFFIXES = (".plan", ".engine", ".trt")


def load_engine(path: str | Path, *, backend: str = "auto", **options: Any) -> Engine:
    """Load a graph (``.onnx``) or serialized TensorRT engine (``.plan``) as an Engine.

    ``backend="auto"`` picks TensorRT for engine files and ONNX Runtime for ONNX graphs.
    ``options`` go to the backend: ``intra_op_threads`` (threads, 0: the library's choice) for ONNX Runtime and
    OpenVINO; ``providers``, ``inter_op_threads``, ``io_binding``, ``cuda_graph_batch_sizes`` for ONNX Runtime;
    ``inference_precision`` ("f32" or "bf16"), ``cache_dir`` for OpenVINO; ``device_id`` for TensorRT. Another option
    is an InputError naming the backend's (``threads`` is now ``intra_op_threads``).
    """
    path = Path(path)
    if path.is_dir():
        raise ArtifactError(f"{path} is a folder: load_engine takes one graph file (e.g. {path / 'model.onnx'}); "
                            "for an artifact folder use its task class (Classifier, Segmenter, ...)")
    if backend not in BACKENDS:
        raise InputError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        backend = "tensorrt" if path.suffix in _TENSORRT_SUFFIXES else "onnxruntime"
    engine_class = _ENGINE_CLASSES[backend]()
    _check_options(engine_class, backend=backend, options=options)
    return engine_class(path, **options)


# options an earlier release took under another name -> the name now
_RENAMED_OPTIONS = {"threads": "intra_op_threads"}


def _check_options(engine_class: Callable[..., Engine], *, backend: str, options: dict[str, Any]) -> None:
    """InputError naming the options ``backend``'s engine takes (its keyword-only parameters) when ``options``
    holds another."""
    accepted = [name for name, parameter in inspect.signature(engine_class).parameters.items()
                if parameter.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = sorted(set(options) - set(accepted))
    if not unknown:
        return
    renamed = [f"{name} was renamed: use {_RENAMED_OPTIONS[name]}" for name in unknown
               if _RENAMED_OPTIONS.get(name) in accepted]
    raise InputError(f"backend {backend} takes no option {', '.join(unknown)}"
                     + (f" ({'; '.join(renamed)})" if renamed else "") + f"; it takes {', '.join(accepted)}")


def _onnxruntime() -> Callable[..., Engine]:
    from .onnxruntime_engine import OnnxRuntimeEngine

    return OnnxRuntimeEngine


def _openvino() -> Callable[..., Engine]:
    from .openvino_engine import OpenVinoEngine

    return OpenVinoEngine


def _tensorrt() -> Callable[..., Engine]:
    from .tensorrt_engine import TensorRTEngine

    return TensorRTEngine


# backend -> the engine class, imported on first use (each backend's optional dependency stays lazy)
_ENGINE_CLASSES: dict[str, Callable[[], Callable[..., Engine]]] = {
    "onnxruntime": _onnxruntime,
    "openvino": _openvino,
    "tensorrt": _tensorrt,
}


__all__ = ["BACKENDS", "BACKEND_INFO", "GRAPH_BACKENDS", "BackendInfo", "Engine", "EngineBase", "TensorSpec",
           "backend_for_precision", "backend_info", "check_feeds", "load_engine"]
