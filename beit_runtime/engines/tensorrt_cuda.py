"""The few CUDA runtime calls the TensorRT engine needs, through cuda-python (``cuda.bindings``).

Importing this module never fails; ``cudart()`` raises BackendUnavailableError when cuda-python is
missing. Buffers grow on demand and are reused between calls of the same thread.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from ..errors import BackendUnavailableError, missing_extra


def missing_tensorrt(module: str, *, needed_by: str) -> str:
    """``missing_extra`` of a module of the TensorRT extra (tensorrt, cuda-python), which needs an NVIDIA GPU."""
    return f"{missing_extra(module, 'tensorrt', needed_by=needed_by)} on a machine with an NVIDIA GPU"


def cudart() -> Any:  # cuda-python's runtime module (no type information)
    """The cuda-python runtime module (``cuda.bindings.runtime``; ``cuda.cudart`` on older releases)."""
    try:
        from cuda.bindings import runtime
    except ImportError:
        try:
            from cuda import cudart as runtime  # cuda-python < 12.8
        except ImportError as error:
            raise BackendUnavailableError(missing_tensorrt("cuda-python", needed_by="the TensorRT backend")) from error
    return runtime


def check(result: tuple[Any, ...], what: str) -> Any:
    """Unpack a cuda-python ``(error, *values)`` tuple, raising on an error code."""
    runtime = cudart()
    error, values = result[0], result[1:]
    if error != runtime.cudaError_t.cudaSuccess:
        name = getattr(error, "name", str(error))
        raise BackendUnavailableError(
            f"CUDA call {what} failed with {name}; is an NVIDIA GPU with a working driver present?"
        )
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def device_properties(device_id: int = 0) -> dict[str, str]:
    """Name and compute capability ("9.0") of CUDA device ``device_id``."""
    runtime = cudart()
    count = check(runtime.cudaGetDeviceCount(), "cudaGetDeviceCount")
    if not 0 <= device_id < count:
        raise BackendUnavailableError(
            f"CUDA device {device_id} does not exist; this machine has {count} CUDA device(s)"
        )
    props = check(runtime.cudaGetDeviceProperties(device_id), "cudaGetDeviceProperties")
    name = props.name.split(b"\0", 1)[0].decode() if isinstance(props.name, bytes) else str(props.name)
    return {"gpu_name": name, "compute_capability": f"{props.major}.{props.minor}"}


class Stream:
    """A CUDA stream owned by one thread's execution state."""

    def __init__(self) -> None:
        self.handle = check(cudart().cudaStreamCreate(), "cudaStreamCreate")

    @property
    def address(self) -> int:
        """The raw ``cudaStream_t`` value, as TensorRT's ``execute_async_v3`` takes it."""
        try:
            return int(self.handle)
        except TypeError:  # releases whose handle objects expose getPtr() only
            return int(self.handle.getPtr())

    def synchronize(self) -> None:
        check(cudart().cudaStreamSynchronize(self.handle), "cudaStreamSynchronize")

    def close(self) -> None:
        if self.handle is not None:
            check(cudart().cudaStreamDestroy(self.handle), "cudaStreamDestroy")
            self.handle = None


class StagedBuffer:
    """A device buffer with a pinned host twin, grown to the largest size asked for."""

    def __init__(self) -> None:
        self.nbytes = 0
        self.device = 0
        self.host = 0

    def reserve(self, nbytes: int) -> None:
        if nbytes <= self.nbytes:
            return
        self.free()
        runtime = cudart()
        self.device = check(runtime.cudaMalloc(nbytes), "cudaMalloc")
        self.host = check(runtime.cudaMallocHost(nbytes), "cudaMallocHost")
        self.nbytes = nbytes

    def host_array(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A numpy view of the pinned host memory (valid until the next ``reserve``/``free``)."""
        count = int(np.prod(shape, dtype=np.int64))
        raw = (ctypes.c_byte * (count * np.dtype(dtype).itemsize)).from_address(int(self.host))
        return np.frombuffer(memoryview(raw), dtype=dtype, count=count).reshape(shape)

    def upload(self, array: np.ndarray, stream: Stream) -> None:
        self.reserve(max(array.nbytes, 1))
        np.copyto(self.host_array(array.shape, array.dtype), array)
        kind = cudart().cudaMemcpyKind.cudaMemcpyHostToDevice
        check(cudart().cudaMemcpyAsync(self.device, self.host, array.nbytes, kind, stream.handle), "cudaMemcpyAsync")

    def start_download(self, nbytes: int, stream: Stream) -> None:
        kind = cudart().cudaMemcpyKind.cudaMemcpyDeviceToHost
        check(cudart().cudaMemcpyAsync(self.host, self.device, nbytes, kind, stream.handle), "cudaMemcpyAsync")

    def free(self) -> None:
        runtime = cudart()
        if self.device:
            check(runtime.cudaFree(self.device), "cudaFree")
        if self.host:
            check(runtime.cudaFreeHost(self.host), "cudaFreeHost")
        self.device = self.host = 0
        self.nbytes = 0
