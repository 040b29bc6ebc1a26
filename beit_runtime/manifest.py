"""The artifact manifest: the contract between ``beit_export`` (writer) and ``beit_runtime`` (reader).

An artifact folder holds ``manifest.json`` plus the files it names. Schema version 1:

```
{
  "format": "beit-deploy-artifact",
  "schema_version": 1,
  "task": "image-classification" | "backbone" | "masked-image-modeling" | "semantic-segmentation",
  "source": {"model": str, "revision": str | null, "architecture": str, "model_type": "beit" | "vit",
             "random_init": bool},
  "input": {"height": int, "width": int, "patch_size": int, "dynamic_batch": true,
            "dynamic_resolution": bool, "num_channels": 3},
  "preprocessing": {"do_resize": bool, "size": {"height": int, "width": int} | {"shortest_edge": int},
                    "resample": "nearest" | "bilinear" | "bicubic", "do_center_crop": bool,
                    "crop_size": {"height": int, "width": int} | null, "do_rescale": bool,
                    "rescale_factor": float, "do_normalize": bool, "image_mean": [3 floats],
                    "image_std": [3 floats], "channel_order": "rgb", "do_reduce_labels": bool},
  "labels": {"0": "name", ...} | null,
  "graphs": {VARIANT: {"file": "model.onnx", "precision": "fp32" | "fp16" | "int8", "opset": int,
                       "role": "model" | "postprocess",
                       "inputs": [{"name", "dtype", "shape": [int | str]}], "outputs": [...],
                       "external_data": [file names], "notes": str}},
  "engines": {VARIANT: {"file": "model.fp16.plan", "graph": VARIANT-of-source-graph, "tensorrt_version": str,
                        "gpu_name": str, "compute_capability": "9.0", "profile": {...}}},
  "postprocessing": {...task specific, e.g. {"logits_stride": 4, "resize": "bilinear", "align_corners": false}},
  "parity": {VARIANT: {"passed": bool, "precision": str, "backend": str, "tolerances": {...},
                       "outputs": {...}, "cases": [...], "failures": [...], "conversion": {...fp16/int8 only},
                       "engines": {"openvino" | "openvino-bf16": {"measured": true, ...same report...}
                                   | {"measured": false, "reason": str}}}},
  "export": {"fp16": bool, "int8": bool, "int8_mode": "static" | "dynamic" (with int8), "tensorrt": bool,
             "dynamic_resolution": bool, "opset": int, "seed": int, "photos": bool,
             "tensorrt_compatibility": {VARIANT: report}},
  "versions": {"beit_deploy": str, "torch": str, "transformers": str, "onnx": str, "onnxruntime": str, ...},
  "files": {FILE: {"sha256": str, "bytes": int}},
  "created": ISO-8601 str
}
```

Graph variants: "fp32" (always present), "fp16", "int8", and "postprocess" (segmentation's fused
upsample + argmax graph). Tensor shapes use strings for dynamic axes ("batch", "height", "width").

Untrusted folders: every file the manifest names (graph and engine files, external_data lists, the
keys of "files") and every external-data location inside the graphs must be a plain relative name
that resolves, symlinks followed, inside the artifact folder. ``artifact_file(folder, name)`` (and
``Manifest.file_path``) is the one check every reader uses; a failure raises
``UnsafeArtifactPathError`` before anything is read or loaded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from .errors import ArtifactIntegrityError, ManifestError, UnsafeArtifactPathError
from .onnx_external_data import external_data_locations

FORMAT_NAME = "beit-deploy-artifact"
SCHEMA_VERSION = 1
MANIFEST_FILE = "manifest.json"
TASKS = ("backbone", "image-classification", "masked-image-modeling", "semantic-segmentation")
REEXPORT_HINT = "re-export it with `beit-export --model MODEL --output FOLDER`"


def _name_problem(name: object) -> str | None:
    """Why ``name`` is not a plain relative file name (forward slashes only), or None when it is one."""
    if not isinstance(name, str):
        return f"is a {type(name).__name__}, not a file name"
    if not name:
        return "is empty"
    if any(ord(char) < 0x20 for char in name):
        return "contains a NUL or control character"
    if "\\" in name:
        return "contains a backslash (use '/' between folders)"
    if PurePosixPath(name).is_absolute() or PureWindowsPath(name).drive or PureWindowsPath(name).is_absolute():
        return "is an absolute path (or has a drive letter)"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return "has an empty, '.' or '..' part"
    return None


def artifact_file(folder: str | Path, name: object, *, what: str = "file") -> Path:
    """The resolved path of the file ``name`` inside the artifact ``folder``; raises UnsafeArtifactPathError
    unless ``name`` is a plain relative name that stays inside the folder once symlinks are followed.

    ``what`` says in the message where the name came from (e.g. "graph 'fp32' file"). The file need not
    exist (callers report missing files with their own error); every part of it that exists is resolved.
    """
    root = Path(folder).resolve()
    problem = _name_problem(name)
    if problem is not None:
        raise UnsafeArtifactPathError(
            f"{what} {name!r} of artifact {root} {problem}; artifact files must be plain relative names inside "
            f"the folder. The manifest was edited or not written by beit-export: {REEXPORT_HINT}"
        )
    try:
        path = (root / name).resolve()
    except (OSError, RuntimeError) as error:  # a symlink loop
        raise ArtifactIntegrityError(
            f"{what} {name!r} of artifact {root} cannot be resolved ({error}); {REEXPORT_HINT}"
        ) from error
    if not path.is_relative_to(root):
        raise UnsafeArtifactPathError(
            f"{what} {name!r} of artifact {root} resolves to {path}, outside the folder (a symlink leads out); "
            "put the real file inside the artifact folder instead of a link to it, or "
            f"{REEXPORT_HINT}"
        )
    return path


def sha256_of(path: Path, *, chunk_bytes: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Manifest:
    """A validated manifest plus the folder it came from."""

    folder: Path
    data: Mapping[str, Any]

    @property
    def task(self) -> str:
        return self.data["task"]

    @property
    def preprocessing(self) -> Mapping[str, Any]:
        return self.data["preprocessing"]

    @property
    def input(self) -> Mapping[str, Any]:
        return self.data["input"]

    @property
    def labels(self) -> dict[int, str]:
        return {int(k): v for k, v in (self.data.get("labels") or {}).items()}

    @property
    def graphs(self) -> Mapping[str, Mapping[str, Any]]:
        return self.data["graphs"]

    @property
    def engines(self) -> Mapping[str, Mapping[str, Any]]:
        return self.data.get("engines") or {}

    @property
    def postprocessing(self) -> Mapping[str, Any]:
        return self.data.get("postprocessing") or {}

    def file_path(self, name: str, *, what: str = "file") -> Path:
        """The resolved path of a file this artifact names, checked to lie inside its folder (``artifact_file``)."""
        return artifact_file(self.folder, name, what=what)

    def graph_path(self, variant: str = "fp32") -> Path:
        """The graph file of ``variant``, after checking that it and every external-data file it names
        (in the manifest and inside the graph) exist inside the artifact folder."""
        if variant not in self.graphs:
            available = ", ".join(sorted(self.graphs)) or "none"
            raise ManifestError(
                f"artifact {self.folder} has no '{variant}' graph (it has: {available}); "
                f"{REEXPORT_HINT} and the matching flag (--fp16, --int8)"
            )
        record = self.graphs[variant]
        path = self.file_path(record["file"], what=f"graph '{variant}' file")
        if not path.is_file():
            raise ArtifactIntegrityError(f"graph '{variant}' file {path} is missing; {REEXPORT_HINT}")
        listed = [self.file_path(name, what=f"external data of graph '{variant}'")
                  for name in record.get("external_data") or ()]
        inside = [artifact_file(path.parent, location, what=f"external-data location inside {path.name}")
                  for location in external_data_locations(path)]
        for data_path in listed + inside:
            if not data_path.is_file():
                raise ArtifactIntegrityError(f"external data {data_path} of graph '{variant}' is missing; {REEXPORT_HINT}")
        return path

    def engine_path(self, variant: str) -> Path:
        if variant not in self.engines:
            available = ", ".join(sorted(self.engines)) or "none"
            raise ManifestError(
                f"artifact {self.folder} has no '{variant}' TensorRT engine (it has: {available}); "
                "build one on the target machine with `beit-export build-engine FOLDER`"
            )
        return self.file_path(self.engines[variant]["file"], what=f"engine '{variant}' file")


def read_manifest_json(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST_FILE
    if not folder.is_dir():
        raise ManifestError(f"artifact folder {folder} does not exist; {REEXPORT_HINT}")
    if not path.is_file():
        raise ManifestError(f"{folder} has no {MANIFEST_FILE}: it is not a beit-deploy artifact; {REEXPORT_HINT}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ManifestError(f"{path} is not readable JSON ({error}); {REEXPORT_HINT}") from error


def _check_schema(data: Mapping[str, Any], folder: Path) -> None:
    if not isinstance(data, Mapping) or data.get("format") != FORMAT_NAME:
        raise ManifestError(f"{folder / MANIFEST_FILE} is not a beit-deploy manifest; {REEXPORT_HINT}")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ManifestError(
            f"{folder / MANIFEST_FILE} has schema version {version!r}; this beit_runtime reads version "
            f"{SCHEMA_VERSION}. Upgrade beit-deploy or {REEXPORT_HINT}"
        )
    missing = [key for key in ("task", "input", "preprocessing", "graphs", "files") if key not in data]
    if missing:
        raise ManifestError(f"{folder / MANIFEST_FILE} lacks {', '.join(missing)}; {REEXPORT_HINT}")
    if data["task"] not in TASKS:
        raise ManifestError(f"unknown task {data['task']!r} in {folder / MANIFEST_FILE}; expected one of {TASKS}")
    if "fp32" not in data["graphs"]:
        raise ManifestError(f"{folder / MANIFEST_FILE} names no fp32 graph; {REEXPORT_HINT}")


def _named_files(data: Mapping[str, Any], folder: Path) -> list[tuple[str, object]]:
    """(where, name) of every file the manifest names; ManifestError when a record is malformed."""
    named: list[tuple[str, object]] = []
    for section in ("graphs", "engines"):
        records = data.get(section) or {}
        if not isinstance(records, Mapping):
            raise ManifestError(f"{folder / MANIFEST_FILE}: '{section}' must be a mapping; {REEXPORT_HINT}")
        for variant, record in records.items():
            if not isinstance(record, Mapping) or "file" not in record:
                raise ManifestError(f"{folder / MANIFEST_FILE}: {section} '{variant}' names no file; {REEXPORT_HINT}")
            named.append((f"{section[:-1]} '{variant}' file", record["file"]))
            external = record.get("external_data") or []
            if not isinstance(external, Sequence) or isinstance(external, str):
                raise ManifestError(
                    f"{folder / MANIFEST_FILE}: external_data of '{variant}' must be a list; {REEXPORT_HINT}"
                )
            named += [(f"external data of {section[:-1]} '{variant}'", name) for name in external]
    if not isinstance(data["files"], Mapping):
        raise ManifestError(f"{folder / MANIFEST_FILE}: 'files' must be a mapping; {REEXPORT_HINT}")
    return named + [("files record", name) for name in data["files"]]


def _check_files(data: Mapping[str, Any], folder: Path) -> None:
    for name, record in data["files"].items():
        path = artifact_file(folder, name, what="files record")
        if not path.is_file():
            raise ArtifactIntegrityError(f"artifact file {path} is missing; {REEXPORT_HINT}")
        if path.stat().st_size != record["bytes"] or sha256_of(path) != record["sha256"]:
            raise ArtifactIntegrityError(
                f"artifact file {path} does not match the hash in {MANIFEST_FILE} (changed or truncated "
                f"after export); {REEXPORT_HINT}"
            )


def load_manifest(folder: str | Path, *, verify_files: bool = True) -> Manifest:
    """Read and validate ``folder/manifest.json``; with ``verify_files`` check every file's size and sha256.

    Every file name the manifest holds is checked to lie inside ``folder`` (``artifact_file``) in both
    cases; the external-data locations inside a graph are checked when ``Manifest.graph_path`` hands the
    graph out to be loaded.
    """
    folder = Path(folder)
    data = read_manifest_json(folder)
    _check_schema(data, folder)
    for where, name in _named_files(data, folder):
        artifact_file(folder, name, what=where)
    if verify_files:
        _check_files(data, folder)
    return Manifest(folder=folder, data=data)
