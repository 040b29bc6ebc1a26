"""The engine contract every backend follows: named tensors in, named tensors out."""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

import numpy as np

from ..errors import InputError

Dim = int | str | None
_Self = TypeVar("_Self", bound="EngineBase")  # typing.Self is Python 3.11+


@dataclass(frozen=True)
class TensorSpec:
    """One named engine input or output; a dimension that is a str or None is dynamic."""

    name: str
    dtype: np.dtype
    shape: tuple[Dim, ...]

    def describe(self) -> str:
        dims = ", ".join("?" if not isinstance(d, int) or d < 0 else str(d) for d in self.shape)
        return f"{self.name}: {np.dtype(self.dtype).name}[{dims}]"


@runtime_checkable
class Engine(Protocol):
    """A loaded inference engine. Thread-safe ``run``; ``close`` releases native resources."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Engine: ...

    def __exit__(self, *exc_info: object) -> None: ...


def check_feeds(specs: Sequence[TensorSpec], feeds: Mapping[str, np.ndarray]) -> None:
    """Raise InputError unless ``feeds`` has exactly the named inputs with matching dtypes and ranks/sizes."""
    expected = {spec.name for spec in specs}
    if not isinstance(feeds, Mapping):
        raise InputError(f"feeds must be a mapping of input name to numpy array; expected names {sorted(expected)}")
    given = set(feeds)
    if given != expected:
        raise InputError(
            f"engine inputs are {sorted(expected)}, got {sorted(given)}; "
            f"missing {sorted(expected - given)}, unexpected {sorted(given - expected)}"
        )
    for spec in specs:
        _check_one(spec, feeds[spec.name])


def _check_one(spec: TensorSpec, value: np.ndarray) -> None:
    if not isinstance(value, np.ndarray):
        raise InputError(
            f"input '{spec.name}' must be a numpy array, got {type(value).__name__}; expected {spec.describe()}"
        )
    if value.dtype != np.dtype(spec.dtype):
        raise InputError(
            f"input '{spec.name}' has dtype {value.dtype}, expected {spec.describe()}; "
            f"convert with array.astype(np.{np.dtype(spec.dtype).name})"
        )
    if value.ndim != len(spec.shape):
        raise InputError(
            f"input '{spec.name}' has shape {value.shape}, expected rank {len(spec.shape)}: {spec.describe()}"
        )
    for axis, (size, dim) in enumerate(zip(value.shape, spec.shape, strict=True)):
        if isinstance(dim, int) and dim >= 0 and size != dim:
            raise InputError(
                f"input '{spec.name}' has size {size} on axis {axis}, expected {dim}: {spec.describe()}"
            )
        if size == 0:
            raise InputError(f"input '{spec.name}' is empty on axis {axis} (shape {value.shape})")


class EngineBase(abc.ABC):
    """Shared context-manager plumbing; subclasses set ``inputs``/``outputs`` and implement run/close."""

    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()

    def input_spec(self, name: str) -> TensorSpec:
        for spec in self.inputs:
            if spec.name == name:
                return spec
        raise InputError(f"engine has no input '{name}'; its inputs are {[s.name for s in self.inputs]}")

    @abc.abstractmethod
    def close(self) -> None:
        """Release the backend's native resources (each backend implements it)."""

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        ins = "; ".join(s.describe() for s in self.inputs)
        outs = "; ".join(s.describe() for s in self.outputs)
        return f"{type(self).__name__}(inputs=[{ins}], outputs=[{outs}])"
