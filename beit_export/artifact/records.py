"""What an artifact's manifest records: graph entries read from the graphs, file hashes, library versions.

``write_manifest(folder, fields)`` writes ``manifest.json`` from the pipeline's fields plus format,
versions, file hashes and time, then validates it with the runtime's own reader.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from beit_runtime.errors import UnsafeArtifactPathError
from beit_runtime.manifest import FORMAT_NAME, MANIFEST_FILE, SCHEMA_VERSION, artifact_file, load_manifest, sha256_of

from ..errors import ExportError

_VERSIONED = ("torch", "transformers", "onnx", "onnxscript", "onnxruntime", "numpy", "huggingface_hub")
_ONNX_DTYPES = {1: "float32", 10: "float16", 11: "float64", 7: "int64", 6: "int32", 3: "int8", 2: "uint8", 9: "bool"}


def library_versions() -> dict[str, str]:
    versions = {"beit_deploy": _version("beit-deploy"), "python": platform.python_version()}
    for name in _VERSIONED:
        versions[name] = _version(name)
    return versions


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _value_info(value) -> dict[str, Any]:
    tensor = value.type.tensor_type
    shape = [dim.dim_param or dim.dim_value for dim in tensor.shape.dim]
    return {"name": value.name, "dtype": _ONNX_DTYPES.get(tensor.elem_type, str(tensor.elem_type)), "shape": shape}


def graph_entry(folder: Path, file: str, *, precision: str, opset: int, role: str = "model", notes: str = "") -> dict:
    """The manifest ``graphs`` record of ``folder/file``, read from the graph itself."""
    import onnx
    from onnx.external_data_helper import uses_external_data

    checked_name(folder, file)
    proto = onnx.load(str(folder / file), load_external_data=False)
    external = sorted({
        entry.value
        for tensor in proto.graph.initializer if uses_external_data(tensor)
        for entry in tensor.external_data if entry.key == "location"
    })
    for name in external:
        checked_name(folder, name)
    return {
        "file": file,
        "precision": precision,
        "opset": int(opset),
        "role": role,
        "inputs": [_value_info(v) for v in proto.graph.input],
        "outputs": [_value_info(v) for v in proto.graph.output],
        "external_data": external,
        "notes": notes,
    }


def checked_name(folder: Path, name: str) -> str:
    """``name`` when it is a plain relative name of a regular file inside ``folder`` (no link); else ExportError.

    The runtime refuses any other name (``beit_runtime.manifest.artifact_file``); the exporter never writes one.
    """
    try:
        path = artifact_file(folder, name, what="artifact file")
    except UnsafeArtifactPathError as error:
        raise ExportError(f"refusing to record {name!r} in the manifest: {error}") from error
    if (Path(folder) / name).is_symlink() or path.is_symlink():
        raise ExportError(f"refusing to record {name!r} in the manifest: it is a symbolic link; artifacts hold real files")
    return name


def file_records(folder: Path) -> dict[str, dict[str, Any]]:
    """sha256 and size of every file in ``folder`` (recursively) except the manifest; links are refused."""
    records = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() or p.is_symlink()):
        name = checked_name(folder, path.relative_to(folder).as_posix())
        if name != MANIFEST_FILE:
            records[name] = {"sha256": sha256_of(path), "bytes": path.stat().st_size}
    return records


def write_manifest(folder: Path, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Write ``folder/manifest.json`` from ``fields`` plus format, versions, file hashes and time; validate it."""
    data = {"format": FORMAT_NAME, "schema_version": SCHEMA_VERSION}
    data.update(fields)
    data["versions"] = library_versions()
    data["files"] = file_records(folder)
    data["created"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    (folder / MANIFEST_FILE).write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    load_manifest(folder, verify_files=True)
    return data


def refresh_file_records(folder: Path) -> dict[str, Any]:
    """Re-hash the files after a later step (e.g. a TensorRT build) added or changed some."""
    path = folder / MANIFEST_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    data["files"] = file_records(folder)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    load_manifest(folder, verify_files=True)
    return data
