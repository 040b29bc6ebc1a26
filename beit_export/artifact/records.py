"""What an exported artifact's manifest records: graph entries read from the graphs, library versions.

``write_export_manifest(folder, fields)`` turns the pipeline's fields into a ``ManifestRecord`` (format,
schema version, library versions and time added; parsed by the runtime's own parser, so the exporter
never writes what the runtime cannot read) and writes it with ``beit_runtime.manifest.write_manifest``,
the one writer of ``manifest.json`` (atomic, file hashes recomputed, read back and verified).
"""

from __future__ import annotations

import datetime
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from beit_runtime.errors import UnsafeArtifactPathError
from beit_runtime.manifest import (
    FORMAT_NAME,
    SCHEMA_VERSION,
    FileRecord,
    GraphRecord,
    Manifest,
    ManifestRecord,
    TensorRecord,
    parse_manifest,
    regular_file_name,
    write_manifest,
)
from beit_runtime.manifest import file_records as manifest_file_records
from beit_runtime.onnx_external_data import external_data_locations
from beit_runtime.planning.machine import library_versions

from ..errors import ExportError

# the distributions whose versions the manifest records ("beit_deploy": the key it has always had; absent ones are
# left out, as everywhere: ``beit_runtime.planning.machine.library_versions``)
RECORDED_LIBRARIES = ("beit_deploy", "torch", "transformers", "onnx", "onnxscript", "onnxruntime", "numpy",
                      "huggingface_hub")
_ONNX_DTYPES = {1: "float32", 10: "float16", 11: "float64", 7: "int64", 6: "int32", 3: "int8", 2: "uint8", 9: "bool"}


def recorded_versions() -> dict[str, str]:
    """The ``versions`` section of a new manifest: Python's and those of ``RECORDED_LIBRARIES`` installed."""
    return {"python": platform.python_version(), **library_versions(RECORDED_LIBRARIES)}


def _tensor_record(value: Any) -> TensorRecord:
    tensor = value.type.tensor_type
    shape = tuple(dim.dim_param or dim.dim_value for dim in tensor.shape.dim)
    return TensorRecord(name=value.name, dtype=_ONNX_DTYPES.get(tensor.elem_type, str(tensor.elem_type)), shape=shape)


def graph_entry(folder: Path, file: str, *, precision: str, opset: int, role: str = "model",
                notes: str = "") -> GraphRecord:
    """The manifest ``graphs`` record of ``folder/file``, read from the graph itself; ``external_data`` is every
    external-data file the graph names (subgraphs and functions included: ``beit_runtime.onnx_external_data``)."""
    import onnx

    checked_name(folder, file)
    proto = onnx.load(str(folder / file), load_external_data=False)
    external = external_data_locations(folder / file)  # the runtime's reading, so the record is what it checks
    for name in external:
        checked_name(folder, name)
    return GraphRecord(file=file, precision=precision, opset=int(opset), role=role,
                       inputs=tuple(_tensor_record(v) for v in proto.graph.input),
                       outputs=tuple(_tensor_record(v) for v in proto.graph.output),
                       external_data=tuple(external), notes=notes)


def checked_name(folder: Path, name: str) -> str:
    """``name`` when it is a plain relative name of a regular file inside ``folder`` (no link); else ExportError.

    The runtime refuses any other name (``beit_runtime.manifest.artifact_file``); the exporter never writes one.
    """
    try:
        return regular_file_name(folder, name)
    except UnsafeArtifactPathError as error:
        raise ExportError(f"refusing to record {name!r} in the manifest: {error}") from error


def file_records(folder: Path) -> dict[str, FileRecord]:
    """sha256 and size of every file in ``folder`` (recursively) except the manifest; links are refused."""
    try:
        return manifest_file_records(folder)
    except UnsafeArtifactPathError as error:
        raise ExportError(f"refusing to record a file in the manifest: {error}") from error


def _json_form(value: Any) -> Any:
    """Typed records (``GraphRecord``...) as their JSON form, inside plain dicts too."""
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, Mapping):
        return {key: _json_form(item) for key, item in value.items()}
    return value


def new_manifest_record(fields: Mapping[str, Any]) -> ManifestRecord:
    """The manifest record of a new export: ``fields`` (task, source, input, preprocessing, labels, graphs,
    engines, postprocessing, parity, export; graphs may be ``GraphRecord``) plus library versions and time."""
    data = {"format": FORMAT_NAME, "schema_version": SCHEMA_VERSION, **_json_form(fields),
            "versions": recorded_versions(), "files": {},
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    return parse_manifest(data, where="the manifest being exported")


def write_export_manifest(folder: Path, fields: Mapping[str, Any]) -> Manifest:
    """Write ``folder/manifest.json`` for a new export (``new_manifest_record``), through the manifest writer."""
    file_records(folder)  # links and unsafe names fail here with the exporter's own error
    return write_manifest(folder, new_manifest_record(fields))
