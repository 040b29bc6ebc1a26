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
  "parity": {VARIANT: {"passed": bool, "precision": str, "tolerances": {...}, "outputs": {...},
                       "cases": [...], "failures": [...], "conversion": {...fp16/int8 only}}},
  "export": {"opset": int, "dynamic_resolution": bool, "tensorrt_compatibility": {VARIANT: report}},
  "versions": {"beit_deploy": str, "torch": str, "transformers": str, "onnx": str, "onnxruntime": str, ...},
  "files": {FILE: {"sha256": str, "bytes": int}},
  "created": ISO-8601 str
}
```

Graph variants: "fp32" (always present), "fp16", "int8", and "postprocess" (segmentation's fused
upsample + argmax graph). Tensor shapes use strings for dynamic axes ("batch", "height", "width").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ArtifactIntegrityError, ManifestError

FORMAT_NAME = "beit-deploy-artifact"
SCHEMA_VERSION = 1
MANIFEST_FILE = "manifest.json"
TASKS = ("backbone", "image-classification", "masked-image-modeling", "semantic-segmentation")
REEXPORT_HINT = "re-export it with `beit-export --model MODEL --output FOLDER`"


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

    def graph_path(self, variant: str = "fp32") -> Path:
        if variant not in self.graphs:
            available = ", ".join(sorted(self.graphs)) or "none"
            raise ManifestError(
                f"artifact {self.folder} has no '{variant}' graph (it has: {available}); "
                f"{REEXPORT_HINT} and the matching flag (--fp16, --int8)"
            )
        return self.folder / self.graphs[variant]["file"]

    def engine_path(self, variant: str) -> Path:
        if variant not in self.engines:
            available = ", ".join(sorted(self.engines)) or "none"
            raise ManifestError(
                f"artifact {self.folder} has no '{variant}' TensorRT engine (it has: {available}); "
                "build one on the target machine with `beit-export build-engine FOLDER`"
            )
        return self.folder / self.engines[variant]["file"]


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


def _check_files(data: Mapping[str, Any], folder: Path) -> None:
    for name, record in data["files"].items():
        path = folder / name
        if not path.is_file():
            raise ArtifactIntegrityError(f"artifact file {path} is missing; {REEXPORT_HINT}")
        if path.stat().st_size != record["bytes"] or sha256_of(path) != record["sha256"]:
            raise ArtifactIntegrityError(
                f"artifact file {path} does not match the hash in {MANIFEST_FILE} (changed or truncated "
                f"after export); {REEXPORT_HINT}"
            )


def load_manifest(folder: str | Path, *, verify_files: bool = True) -> Manifest:
    """Read and validate ``folder/manifest.json``; with ``verify_files`` check every file's size and sha256."""
    folder = Path(folder)
    data = read_manifest_json(folder)
    _check_schema(data, folder)
    if verify_files:
        _check_files(data, folder)
    return Manifest(folder=folder, data=data)
