"""Manifest records of the files that run: ONNX graphs and TensorRT engines."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..errors import ManifestError
from .paths import REEXPORT_HINT
from .values import Fields

GRAPH_ROLES = ("model", "postprocess")


@dataclass(frozen=True)
class TensorRecord:
    """A graph input or output: name, numpy dtype name, shape (ints, or strings for dynamic axes)."""

    name: str
    dtype: str
    shape: tuple[int | str, ...]

    @classmethod
    def from_json(cls, data: object, where: str) -> TensorRecord:
        fields = Fields(data, where)
        shape = tuple(fields.items("shape"))
        if not all(isinstance(dim, (int, str)) and not isinstance(dim, bool) for dim in shape):
            raise ManifestError(f"manifest {where}: shape entries must be integers or axis names; {REEXPORT_HINT}")
        return cls(name=fields.text("name"), dtype=fields.text("dtype"), shape=shape)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}


def _tensors(fields: Fields, key: str) -> tuple[TensorRecord, ...]:
    return tuple(TensorRecord.from_json(item, f"{fields.where} {key}[{index}]")
                 for index, item in enumerate(fields.items(key, ())))


@dataclass(frozen=True)
class GraphRecord:
    """One ONNX graph of the artifact (a ``graphs`` entry)."""

    file: str
    precision: str
    opset: int
    role: str = "model"
    inputs: tuple[TensorRecord, ...] = ()
    outputs: tuple[TensorRecord, ...] = ()
    external_data: tuple[str, ...] = ()
    notes: str = ""

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(tensor.name for tensor in self.inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(tensor.name for tensor in self.outputs)

    @classmethod
    def from_json(cls, data: object, where: str) -> GraphRecord:
        fields = Fields(data, where)
        role = fields.text("role", "model")
        if role not in GRAPH_ROLES:
            raise ManifestError(f"manifest {where}: role {role!r} is not one of {GRAPH_ROLES}; {REEXPORT_HINT}")
        return cls(file=fields.text("file"), precision=fields.text("precision"), opset=fields.integer("opset"),
                   role=role, inputs=_tensors(fields, "inputs"), outputs=_tensors(fields, "outputs"),
                   external_data=tuple(fields.items("external_data", ())), notes=fields.text("notes", ""))

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "precision": self.precision, "opset": self.opset, "role": self.role,
                "inputs": [t.to_json() for t in self.inputs], "outputs": [t.to_json() for t in self.outputs],
                "external_data": list(self.external_data), "notes": self.notes}


@dataclass(frozen=True)
class ShapeRange:
    """The min/opt/max shapes of one input in a TensorRT optimization profile."""

    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]

    @classmethod
    def from_json(cls, data: object, where: str) -> ShapeRange:
        fields = Fields(data, where)
        return cls(**{key: tuple(int(d) for d in fields.items(key)) for key in ("min", "opt", "max")})

    def to_json(self) -> dict[str, list[int]]:
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max)}


@dataclass(frozen=True)
class EngineRecord:
    """A TensorRT engine built from one graph on one machine (an ``engines`` entry)."""

    file: str
    graph: str
    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    profile: Mapping[str, ShapeRange] = field(default_factory=lambda: MappingProxyType({}))
    workspace_gib: float | None = None
    strongly_typed: bool = True
    built: str | None = None

    @classmethod
    def from_json(cls, data: object, where: str) -> EngineRecord:
        fields = Fields(data, where)
        profile = {name: ShapeRange.from_json(shapes, f"{where} profile '{name}'")
                   for name, shapes in fields.mapping("profile", {}).items()}
        return cls(file=fields.text("file"), graph=fields.text("graph"),
                   tensorrt_version=fields.text("tensorrt_version"), gpu_name=fields.text("gpu_name"),
                   compute_capability=fields.text("compute_capability"),
                   profile=MappingProxyType(profile), workspace_gib=fields.number("workspace_gib", None),
                   strongly_typed=fields.flag("strongly_typed", True), built=fields.text("built", None))

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "graph": self.graph, "tensorrt_version": self.tensorrt_version,
                "gpu_name": self.gpu_name, "compute_capability": self.compute_capability,
                "profile": {name: shapes.to_json() for name, shapes in self.profile.items()},
                "workspace_gib": self.workspace_gib, "strongly_typed": self.strongly_typed, "built": self.built}
