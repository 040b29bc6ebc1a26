"""Artifact folders: staged beside the target, moved into place only when complete.

``staged_artifact(output)`` yields an empty hidden folder next to ``output``; the caller writes the
graphs and the manifest there. On success the folder is renamed to ``output`` (a same-filesystem
rename, so readers never see half an artifact); on any exception, KeyboardInterrupt included, it is
deleted and ``output`` is left as it was.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from beit_runtime.manifest import FORMAT_NAME, MANIFEST_FILE, SCHEMA_VERSION, load_manifest, sha256_of

from .errors import ExportError

_VERSIONED = ("torch", "transformers", "onnx", "onnxscript", "onnxruntime", "numpy", "huggingface_hub")
_ONNX_DTYPES = {1: "float32", 10: "float16", 11: "float64", 7: "int64", 6: "int32", 3: "int8", 2: "uint8", 9: "bool"}


class OutputExistsError(ExportError):
    """--output names a non-empty folder (or a file) and --overwrite was not given."""


def check_output(output: Path, *, overwrite: bool) -> Path:
    """The absolute target path; OutputExistsError when it holds something and ``overwrite`` is off."""
    output = Path(output).expanduser().absolute()
    if output.exists() and not output.is_dir():
        raise OutputExistsError(f"--output {output} is a file; expected a folder path (it is created)")
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        raise OutputExistsError(
            f"--output {output} exists and is not empty; pass --overwrite to replace it or choose another folder"
        )
    return output


@contextmanager
def staged_artifact(output: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a staging folder beside ``output``; move it to ``output`` when the block completes."""
    output = check_output(output, overwrite=overwrite)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.partial-", dir=output.parent))
    staging.chmod(0o777 & ~_umask())  # mkdtemp makes it private; an artifact is an ordinary folder
    try:
        yield staging
        _move_into_place(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _move_into_place(staging: Path, output: Path) -> None:
    if not output.exists():
        staging.rename(output)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{output.name}.old-", dir=output.parent))
    retired.rmdir()
    output.rename(retired)
    try:
        staging.rename(output)
    except BaseException:
        retired.rename(output)
        raise
    shutil.rmtree(retired, ignore_errors=True)


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

    proto = onnx.load(str(folder / file), load_external_data=False)
    external = sorted({
        entry.value
        for tensor in proto.graph.initializer if uses_external_data(tensor)
        for entry in tensor.external_data if entry.key == "location"
    })
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


def file_records(folder: Path) -> dict[str, dict[str, Any]]:
    """sha256 and size of every file in ``folder`` (recursively) except the manifest."""
    records = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
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
