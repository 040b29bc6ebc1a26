"""Device-resident I/O for ONNX Runtime sessions: IO binding with buffers kept per input shape.

A ``BoundRunner`` keeps, for every input-shape signature it has seen, one set of ONNX Runtime
``OrtValue`` buffers on the session's device (CUDA memory under the CUDA provider, host memory under
the CPU provider) and one ``IOBinding`` naming them. A run copies each host input into its buffer,
runs the session on the bound buffers and either copies the outputs back to numpy or hands the
device buffers on (``run_on_device``), so a next graph on the same device (segmentation's
post-process graph) reads them without a round trip through the host. Every copy between the host
and the buffers is counted in a ``CopyCounter`` that tests and benchmarks read.

The buffers of one shape are reused by the next run of that shape: a runner serialises runs (one
lock), and results returned by ``run_on_device`` stay valid only until the next run of the same shape.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError

CUDA_PROVIDER = "CUDAExecutionProvider"
ShapeKey = tuple[tuple[str, tuple[int, ...]], ...]


@dataclass
class CopyCounter:
    """Copies between host memory and the bound buffers: counts and bytes, each direction."""

    host_to_device: int = 0
    device_to_host: int = 0
    host_to_device_bytes: int = 0
    device_to_host_bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add_upload(self, nbytes: int) -> None:
        with self._lock:
            self.host_to_device += 1
            self.host_to_device_bytes += int(nbytes)

    def add_download(self, nbytes: int) -> None:
        with self._lock:
            self.device_to_host += 1
            self.device_to_host_bytes += int(nbytes)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {"host_to_device": self.host_to_device, "device_to_host": self.device_to_host,
                    "host_to_device_bytes": self.host_to_device_bytes,
                    "device_to_host_bytes": self.device_to_host_bytes}


def session_device(providers: Sequence[str]) -> str:
    """The device ONNX Runtime's bound buffers live on: "cuda" when the CUDA provider runs the session."""
    return "cuda" if providers and providers[0] == CUDA_PROVIDER else "cpu"


def shape_key(feeds: Mapping[str, Any]) -> ShapeKey:
    """The input-shape signature that selects a set of buffers (numpy arrays or OrtValues)."""
    return tuple(sorted((name, tuple(_shape_of(value))) for name, value in feeds.items()))


def _shape_of(value: Any) -> tuple[int, ...]:
    return tuple(value.shape) if isinstance(value, np.ndarray) else tuple(value.shape())


@dataclass
class _Buffers:
    """One shape's device buffers and the binding that names them."""

    binding: Any  # onnxruntime.IOBinding
    inputs: dict[str, Any]  # name -> OrtValue
    outputs: dict[str, Any] = field(default_factory=dict)  # name -> OrtValue, once the first run made them


class BoundRunner:
    """Runs one ``InferenceSession`` through IO binding with preallocated buffers per input shape."""

    def __init__(self, session: Any, *, ort: Any, output_names: Sequence[str], device: str,
                 counter: CopyCounter, device_id: int = 0) -> None:
        self._session, self._ort, self._device, self._device_id = session, ort, device, device_id
        self._output_names = list(output_names)
        self._buffers: dict[ShapeKey, _Buffers] = {}
        self._lock = threading.Lock()
        self.counter = counter

    @property
    def device(self) -> str:
        return self._device

    @property
    def shapes(self) -> tuple[ShapeKey, ...]:
        """The input-shape signatures that have buffers, in the order they were first run."""
        return tuple(self._buffers)

    def buffer_addresses(self, feeds: Mapping[str, Any]) -> dict[str, int]:
        """Device addresses of the buffers bound for the shape of ``feeds`` (inputs and outputs)."""
        buffers = self._buffers.get(shape_key(feeds))
        if buffers is None:
            raise InputError(f"no buffers for input shapes {shape_key(feeds)}; run those shapes first")
        return {name: value.data_ptr() for name, value in {**buffers.inputs, **buffers.outputs}.items()}

    def preallocate_outputs(self, feeds: Mapping[str, Any], *, like: Mapping[str, Any]) -> None:
        """Bind output buffers for the shapes of ``feeds`` now, shaped and typed like the OrtValues ``like``
        (a CUDA-graph session must write to the same addresses from its first run on)."""
        with self._lock:
            buffers = self._buffers_for(feeds)
            for name in self._output_names:
                value = like[name]
                buffers.outputs[name] = self._ort.OrtValue.ortvalue_from_shape_and_type(
                    list(value.shape()), value.element_type(), self._device, self._device_id)
                buffers.binding.bind_ortvalue_output(name, buffers.outputs[name])

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Host arrays in, host arrays out: one upload per input, one download per output."""
        with self._lock:
            outputs = self._run_locked(feeds)
            return {name: self._download(value) for name, value in outputs.items()}

    def run_on_device(self, feeds: Mapping[str, Any]) -> dict[str, Any]:
        """Inputs as host arrays or OrtValues already on this device; outputs stay on the device (OrtValues).

        The returned buffers are overwritten by the next run of the same input shapes.
        """
        with self._lock:
            return self._run_locked(feeds)

    def _run_locked(self, feeds: Mapping[str, Any]) -> dict[str, Any]:
        buffers = self._buffers_for(feeds)
        for name, value in feeds.items():
            self._load_input(buffers, name, value)
        first_run = not buffers.outputs
        if first_run:  # let ONNX Runtime allocate the outputs on the device once; reuse them afterwards
            for name in self._output_names:
                buffers.binding.bind_output(name, self._device, self._device_id)
        self._session.run_with_iobinding(buffers.binding)
        if first_run:
            values = buffers.binding.get_outputs()
            buffers.outputs = dict(zip(self._output_names, values, strict=True))
            for name, value in buffers.outputs.items():
                buffers.binding.bind_ortvalue_output(name, value)
        return dict(buffers.outputs)

    def _buffers_for(self, feeds: Mapping[str, Any]) -> _Buffers:
        key = shape_key(feeds)
        buffers = self._buffers.get(key)
        if buffers is None:
            buffers = _Buffers(binding=self._session.io_binding(), inputs={})
            self._buffers[key] = buffers
        return buffers

    def _load_input(self, buffers: _Buffers, name: str, value: Any) -> None:
        if not isinstance(value, np.ndarray):  # an OrtValue already on the device: bind it, no copy
            if value.device_name().lower() != self._device:
                raise InputError(f"input '{name}' is an OrtValue on {value.device_name()}, expected one on "
                                 f"{self._device}; pass a numpy array instead")
            buffers.binding.bind_ortvalue_input(name, value)
            buffers.inputs.pop(name, None)
            return
        array = np.ascontiguousarray(value)
        target = buffers.inputs.get(name)
        if target is None:
            target = self._ort.OrtValue.ortvalue_from_shape_and_type(
                list(array.shape), array.dtype, self._device, self._device_id)
            buffers.inputs[name] = target
        target.update_inplace(array)
        buffers.binding.bind_ortvalue_input(name, target)
        self.counter.add_upload(array.nbytes)

    def _download(self, value: Any) -> np.ndarray:
        array = np.asarray(value.numpy())
        self.counter.add_download(array.nbytes)
        return array


def to_host(value: Any, *, counter: CopyCounter | None = None) -> np.ndarray:
    """An OrtValue from ``run_on_device`` as a numpy array (one counted copy when a counter is given)."""
    if isinstance(value, np.ndarray):
        return value
    array = np.asarray(value.numpy())
    if counter is not None:
        counter.add_download(array.nbytes)
    return array
