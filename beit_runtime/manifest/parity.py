"""Manifest parity records: how far each graph is from the PyTorch model, on ONNX Runtime and other engines.

``parity[VARIANT]`` is the exporter's ONNX Runtime report of that graph; its ``engines`` hold the same
report measured on other engines (named by ``engine_parity_name``: "openvino", "openvino-bf16"), or
why the engine was not measured.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .values import Fields, freeze, thaw

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def engine_parity_name(backend: str, *, inference_precision: str | None = None) -> str:
    """The key of an engine's parity record: the backend, plus a reduced inference precision ("openvino-bf16")."""
    if inference_precision in (None, "", "fp32", "f32"):
        return backend
    return f"{backend}-{inference_precision}"


@dataclass(frozen=True)
class ParityRecord:
    """One parity report: whether the graph passed, the worst figures per output, every case, the failures."""

    passed: bool
    precision: str
    backend: str
    reference: str = ""
    tolerances: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    outputs: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: _EMPTY)
    cases: tuple[Mapping[str, Any], ...] = ()
    failures: tuple[str, ...] = ()
    conversion: Mapping[str, Any] | None = None  # fp16 / int8 graphs: how they were made
    engines: Mapping[str, EngineParity] = field(default_factory=lambda: _EMPTY)

    @classmethod
    def from_json(cls, data: object, where: str) -> ParityRecord:
        fields = Fields(data, where)
        engines = {name: EngineParity.from_json(record, f"{where} engine '{name}'")
                   for name, record in fields.mapping("engines", {}).items()}
        conversion = fields.mapping("conversion", None)
        return cls(passed=fields.flag("passed"), precision=fields.text("precision"), backend=fields.text("backend"),
                   reference=fields.text("reference", ""), tolerances=fields.frozen("tolerances", {}),
                   outputs=fields.frozen("outputs", {}), cases=fields.frozen("cases", ()),
                   failures=tuple(fields.items("failures", ())),
                   conversion=None if conversion is None else freeze(conversion), engines=MappingProxyType(engines))

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"passed": self.passed, "precision": self.precision, "backend": self.backend,
                                "reference": self.reference, "tolerances": thaw(self.tolerances),
                                "outputs": thaw(self.outputs), "cases": thaw(self.cases),
                                "failures": list(self.failures)}
        if self.conversion is not None:
            data["conversion"] = thaw(self.conversion)
        if self.engines:
            data["engines"] = {name: record.to_json() for name, record in self.engines.items()}
        return data


@dataclass(frozen=True)
class EngineParity:
    """A graph's parity on another engine: the report when it was measured, else why not."""

    measured: bool
    report: ParityRecord | None = None
    reason: str = ""

    @property
    def failed(self) -> bool:
        """Measured and outside the tolerances: the runtime refuses this engine for this graph."""
        return self.report is not None and not self.report.passed

    @classmethod
    def from_json(cls, data: object, where: str) -> EngineParity:
        fields = Fields(data, where)
        if not fields.flag("measured"):
            return cls(measured=False, reason=fields.text("reason", ""))
        report = {key: value for key, value in fields.data.items() if key != "measured"}
        return cls(measured=True, report=ParityRecord.from_json(report, where))

    def to_json(self) -> dict[str, Any]:
        if self.report is None:
            return {"measured": False, "reason": self.reason}
        return {**self.report.to_json(), "measured": True}
