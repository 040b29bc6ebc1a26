"""The whole manifest as one frozen record, parsed from (and written back to) its JSON form.

Schema versions: 2 (written now) and 1 load into the same record. Schema 2 once added a ``plans`` section,
always written empty by the exporter; run plans are per machine, so they live outside the artifact (an
artifact is copied to many machines), in ``beit_runtime.planning`` (``~/.cache/beit-deploy/plans/``). A
``plans`` key left in a manifest by an earlier release is read past and not written back. A manifest of
another version, or of another format, is refused with a ManifestError that names the re-export.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from ..errors import ManifestError
from ..tasks import TASK_NAMES
from .graphs import EngineRecord, GraphRecord
from .parity import EngineParity, ParityRecord
from .paths import MANIFEST_FILE, REEXPORT_HINT
from .sections import (
    ExportRecord,
    FileRecord,
    InputRecord,
    PostprocessingRecord,
    PreprocessingRecord,
    SourceRecord,
)
from .values import Fields

FORMAT_NAME = "beit-deploy-artifact"
SCHEMA_VERSION = 2
READABLE_SCHEMA_VERSIONS = (1, 2)
_T = TypeVar("_T")


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, kw_only=True)
class ManifestRecord:
    """Everything ``manifest.json`` says about an artifact (see the package docstring for the JSON layout)."""

    task: str
    input: InputRecord
    preprocessing: PreprocessingRecord
    graphs: Mapping[str, GraphRecord]
    files: Mapping[str, FileRecord] = field(default_factory=_empty)
    source: SourceRecord | None = None
    labels: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))
    engines: Mapping[str, EngineRecord] = field(default_factory=_empty)
    postprocessing: PostprocessingRecord = field(default_factory=PostprocessingRecord)
    parity: Mapping[str, ParityRecord] = field(default_factory=_empty)
    export: ExportRecord | None = None
    versions: Mapping[str, str] = field(default_factory=_empty)
    created: str | None = None
    schema_version: int = SCHEMA_VERSION

    @property
    def files_digest(self) -> str:
        """A digest of the artifact's files (each name and its recorded sha256): changes when any file changes;
        what run plans (``beit_runtime.planning``) and evaluation states are keyed by."""
        text = "\n".join(f"{name}\0{record.sha256}" for name, record in sorted(self.files.items()))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def parity_for(self, variant: str, *, engine: str | None = None) -> ParityRecord | None:
        """The parity report of graph ``variant`` on ONNX Runtime, or (``engine``, e.g. ``engine_parity_name(
        "openvino", inference_precision="bf16")``) on that engine; None when not recorded or not measured."""
        record = self.parity.get(variant)
        if record is None or engine is None:
            return record
        measured = record.engines.get(engine)
        return None if measured is None else measured.report

    def engine_parity(self, variant: str, engine: str) -> EngineParity | None:
        """The full record of graph ``variant`` on ``engine``: measured or not (then with the reason)."""
        record = self.parity.get(variant)
        return None if record is None else record.engines.get(engine)

    def engine_for_file(self, name: str) -> EngineRecord | None:
        """The ``engines`` record whose file is ``name`` (None when no engine names it)."""
        return next((record for record in self.engines.values() if record.file == name), None)

    def to_json(self) -> dict[str, Any]:
        """The JSON form written to ``manifest.json`` (always of the current schema version)."""
        return {
            "format": FORMAT_NAME, "schema_version": SCHEMA_VERSION, "task": self.task,
            "source": None if self.source is None else self.source.to_json(), "input": self.input.to_json(),
            "preprocessing": self.preprocessing.to_json(),
            "labels": {str(k): v for k, v in self.labels.items()} or None,
            "graphs": {name: graph.to_json() for name, graph in self.graphs.items()},
            "engines": {name: engine.to_json() for name, engine in self.engines.items()},
            "postprocessing": self.postprocessing.to_json(),
            "parity": {name: record.to_json() for name, record in self.parity.items()},
            "export": None if self.export is None else self.export.to_json(),
            "versions": dict(self.versions),
            "files": {name: record.to_json() for name, record in self.files.items()},
            "created": self.created,
        }


def _records(fields: Fields, key: str, parse: Callable[[object, str], _T], *,
             required: bool = False) -> Mapping[str, _T]:
    section = fields.mapping(key) if required else fields.mapping(key, {})
    return MappingProxyType({str(name): parse(value, f"{key} '{name}'") for name, value in section.items()})


def _optional(fields: Fields, key: str, parse: Callable[[object, str], _T]) -> _T | None:
    value = fields.mapping(key, None)
    return None if value is None else parse(value, key)


def _labels(fields: Fields) -> Mapping[int, str]:
    raw = fields.mapping("labels", {})
    try:
        return MappingProxyType({int(key): str(name) for key, name in raw.items()})
    except ValueError as error:
        raise ManifestError(f"manifest labels: keys must be class ids ({error}); {REEXPORT_HINT}") from error


def check_format(data: object, where: str) -> Fields:
    """The manifest's fields after checking format, schema version and task; ManifestError otherwise."""
    if not isinstance(data, Mapping) or data.get("format") != FORMAT_NAME:
        raise ManifestError(f"{where} is not a beit-deploy manifest; {REEXPORT_HINT}")
    version = data.get("schema_version")
    if version not in READABLE_SCHEMA_VERSIONS or isinstance(version, bool):
        raise ManifestError(
            f"{where} has schema version {version!r}; this beit_runtime reads versions "
            f"{', '.join(map(str, READABLE_SCHEMA_VERSIONS))}. Upgrade beit-deploy or {REEXPORT_HINT}"
        )
    missing = [key for key in ("task", "input", "preprocessing", "graphs", "files") if key not in data]
    if missing:
        raise ManifestError(f"{where} lacks {', '.join(missing)}; {REEXPORT_HINT}")
    if data["task"] not in TASK_NAMES:
        raise ManifestError(f"unknown task {data['task']!r} in {where}; expected one of {TASK_NAMES}")
    return Fields(data, MANIFEST_FILE)


def parse_manifest(data: object, *, where: str = MANIFEST_FILE) -> ManifestRecord:
    """Parse a manifest's JSON (schema version 1 or 2) into a ``ManifestRecord``; ManifestError when malformed."""
    fields = check_format(data, where)
    graphs = _records(fields, "graphs", GraphRecord.from_json, required=True)
    if "fp32" not in graphs:
        raise ManifestError(f"{where} names no fp32 graph; {REEXPORT_HINT}")
    return ManifestRecord(
        task=fields.text("task"), input=InputRecord.from_json(fields.mapping("input")),
        preprocessing=PreprocessingRecord.from_json(fields.mapping("preprocessing")), graphs=graphs,
        files=_records(fields, "files", FileRecord.from_json, required=True),
        source=_optional(fields, "source", SourceRecord.from_json), labels=_labels(fields),
        engines=_records(fields, "engines", EngineRecord.from_json),
        postprocessing=PostprocessingRecord.from_json(fields.mapping("postprocessing", {})),
        parity=_records(fields, "parity", ParityRecord.from_json),
        export=_optional(fields, "export", ExportRecord.from_json),
        versions=MappingProxyType({str(k): str(v) for k, v in fields.mapping("versions", {}).items()}),
        created=fields.text("created", None),
        schema_version=int(fields.integer("schema_version")),
    )
