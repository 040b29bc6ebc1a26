"""TensorRT backend: a serialized engine (``.plan``) behind the Engine protocol.

Name-based tensor API of TensorRT 10+ (``num_io_tensors``, ``set_input_shape``,
``set_tensor_address``, ``execute_async_v3``); device buffers, pinned host buffers and a stream
through cuda-python. Each thread gets its own execution context, stream and buffers, so ``run`` is
safe to call from several threads. Shapes may change from call to call within the engine's
optimization profile.

An engine only runs on the GPU model and TensorRT version it was built with: when the artifact's
manifest records another one, loading raises EngineMismatchError saying how to rebuild.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ArtifactError, BackendUnavailableError, EngineMismatchError, InputError
from ..manifest import EngineRecord, find_manifest
from .base import EngineBase, TensorSpec, check_feeds
from .tensorrt_cuda import StagedBuffer, Stream, check, cudart, device_properties, missing_tensorrt


def _import_tensorrt() -> Any:
    try:
        import tensorrt
    except ImportError as error:
        raise BackendUnavailableError(missing_tensorrt("tensorrt", needed_by="the TensorRT backend")) from error
    return tensorrt


def engine_record(path: Path) -> EngineRecord | None:
    """The manifest ``engines`` record naming ``path`` (None for an engine outside an artifact, or one the
    artifact's manifest does not name); a broken manifest raises ManifestError."""
    manifest = find_manifest(path.parent, verify_files=False)
    return None if manifest is None else manifest.engine_for_file(path.name)


def check_engine_target(record: EngineRecord | None, *, tensorrt_version: str, device: Mapping[str, str],
                        artifact: Path) -> None:
    """Raise EngineMismatchError when ``record`` names another TensorRT version or GPU than the ones here."""
    if record is None:
        return
    wanted = {
        "TensorRT": (record.tensorrt_version, tensorrt_version),
        "GPU": (record.gpu_name, device["gpu_name"]),
        "compute capability": (record.compute_capability, device["compute_capability"]),
    }
    for what, (built, here) in wanted.items():
        if str(built) != str(here):
            raise EngineMismatchError(
                f"the engine {artifact / record.file} was built for {what} {built}, this machine has {here}; "
                f"TensorRT engines only run where they were built. Rebuild it here with "
                f"`beit-export build-engine {artifact}`"
            )


class _ThreadState:
    """One thread's execution context, stream and staged buffers."""

    def __init__(self, engine: Any) -> None:
        self.context = engine.create_execution_context()
        if self.context is None:
            raise BackendUnavailableError("TensorRT could not create an execution context (out of GPU memory?)")
        self.stream = Stream()
        self.buffers: dict[str, StagedBuffer] = {}

    def buffer(self, name: str) -> StagedBuffer:
        return self.buffers.setdefault(name, StagedBuffer())

    def close(self) -> None:
        self.stream.synchronize()
        for buffer in self.buffers.values():
            buffer.free()
        self.stream.close()
        self.context = None


class TensorRTEngine(EngineBase):
    """A deserialized TensorRT engine; ``run`` copies feeds to the GPU, executes, and copies outputs back."""

    def __init__(self, path: str | Path, *, device_id: int = 0) -> None:
        trt = _import_tensorrt()
        path = Path(path)
        if not path.is_file():
            raise ArtifactError(
                f"TensorRT engine {path} does not exist; build it with `beit-export build-engine ARTIFACT`"
            )
        device = device_properties(device_id)
        check_engine_target(engine_record(path), tensorrt_version=trt.__version__, device=device, artifact=path.parent)
        check(cudart().cudaSetDevice(device_id), "cudaSetDevice")
        self._trt = trt
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self._engine = self._runtime.deserialize_cuda_engine(path.read_bytes())
        if self._engine is None:
            raise EngineMismatchError(
                f"TensorRT {trt.__version__} could not deserialize {path} (built with another TensorRT version "
                f"or for another GPU?); rebuild it with `beit-export build-engine {path.parent}`"
            )
        self.path, self.device_id, self.device = path, device_id, device
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        is_input = {name: self._engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT for name in names}
        self.inputs = tuple(self._spec(name) for name in names if is_input[name])
        self.outputs = tuple(self._spec(name) for name in names if not is_input[name])
        self._local = threading.local()
        self._states: list[_ThreadState] = []
        self._lock = threading.Lock()

    def _spec(self, name: str) -> TensorSpec:
        dtype = np.dtype(self._trt.nptype(self._engine.get_tensor_dtype(name)))
        shape = tuple(None if d < 0 else int(d) for d in self._engine.get_tensor_shape(name))
        return TensorSpec(name=name, dtype=dtype, shape=shape)

    def profile_range(self, name: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(min, max) input shape of optimization profile 0 for input ``name``."""
        low, _, high = self._engine.get_tensor_profile_shape(name, 0)
        return tuple(low), tuple(high)

    def _state(self) -> _ThreadState:
        if self._engine is None:
            raise InputError("this engine is closed; load it again with load_engine(...)")
        state = getattr(self._local, "state", None)
        if state is None:
            check(cudart().cudaSetDevice(self.device_id), "cudaSetDevice")
            state = _ThreadState(self._engine)
            self._local.state = state
            with self._lock:
                self._states.append(state)
        return state

    def _check_profile(self, name: str, shape: tuple[int, ...]) -> None:
        low, high = self.profile_range(name)
        if any(s < lo or s > hi for s, lo, hi in zip(shape, low, high, strict=True)):
            raise InputError(
                f"input '{name}' has shape {shape}; this engine accepts shapes from {low} to {high}. "
                "Split the batch, or rebuild with `beit-export build-engine ARTIFACT --max-batch N`"
            )

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        check_feeds(self.inputs, feeds)
        state = self._state()
        for spec in self.inputs:
            array = np.ascontiguousarray(feeds[spec.name])
            self._check_profile(spec.name, array.shape)
            if not state.context.set_input_shape(spec.name, array.shape):
                raise InputError(f"TensorRT refused shape {array.shape} for input '{spec.name}'")
            buffer = state.buffer(spec.name)
            buffer.upload(array, state.stream)
            state.context.set_tensor_address(spec.name, int(buffer.device))
        shapes = {}
        for spec in self.outputs:
            shapes[spec.name] = tuple(state.context.get_tensor_shape(spec.name))
            nbytes = int(np.prod(shapes[spec.name], dtype=np.int64)) * spec.dtype.itemsize
            buffer = state.buffer(spec.name)
            buffer.reserve(max(nbytes, 1))
            state.context.set_tensor_address(spec.name, int(buffer.device))
        if not state.context.execute_async_v3(state.stream.address):
            raise BackendUnavailableError(f"TensorRT failed to execute {self.path}; see the TensorRT log above")
        for spec in self.outputs:
            nbytes = int(np.prod(shapes[spec.name], dtype=np.int64)) * spec.dtype.itemsize
            state.buffers[spec.name].start_download(nbytes, state.stream)
        state.stream.synchronize()
        return {
            spec.name: state.buffers[spec.name].host_array(shapes[spec.name], spec.dtype).copy()
            for spec in self.outputs
        }

    def close(self) -> None:
        with self._lock:
            states, self._states = self._states, []
        for state in states:
            state.close()
        self._engine = None
        self._runtime = None
