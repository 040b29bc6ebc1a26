"""The artifact manifest: the contract between ``beit_export`` (writer) and ``beit_runtime`` (reader).

This package is the only code that opens ``manifest.json``. ``load_manifest(folder)`` reads it once
into frozen records (``Manifest``: ``graphs``, ``engines``, ``parity``, ``preprocessing``, ``input``,
``labels``, ``postprocessing``, ``source``, ``export``, ``versions``, ``files``);
``write_manifest`` / ``update_manifest`` / ``copy_manifest`` are the one writer (atomic, file hashes
recomputed, read back before returning). Run plans are not in the manifest: they are per machine and an
artifact is copied to many machines, so ``beit-run tune`` keeps them in ``~/.cache/beit-deploy/plans/``
(``beit_runtime.planning``), keyed by the artifact's ``files_digest``. Schema version 2 (written now):

```
{
  "format": "beit-deploy-artifact",
  "schema_version": 2,                      # 1: the same (still loads); a "plans" key that earlier releases
                                            # wrote (always {}) is read past and not written back
  "task": "image-classification" | "backbone" | "masked-image-modeling" | "semantic-segmentation",
  "source": {"model": str, "revision": str | null, "architecture": str, "model_type": "beit" | "vit" | "deit",
             "random_init": bool},
  "input": {"height": int, "width": int, "patch_size": int, "dynamic_batch": true,
            "dynamic_resolution": bool, "num_channels": 3, "special_tokens": 1 | 2 (DeiT; absent: 1),
            "num_attention_heads": int (absent in manifests written before it)},
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
                        "gpu_name": str, "compute_capability": "9.0",
                        "profile": {INPUT: {"min": [int], "opt": [int], "max": [int]}},
                        "workspace_gib": float, "strongly_typed": true, "built": ISO-8601 str}},
  "postprocessing": {...task specific, e.g. {"logits_stride": 4, "resize": "bilinear", "align_corners": false};
                     classification: {"score": "softmax" | "sigmoid" | "none"} (absent: softmax)},
  "parity": {VARIANT: {"passed": bool, "precision": str, "backend": str, "reference": str, "tolerances": {...},
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
Engine parity records are keyed by ``engine_parity_name(backend, inference_precision=...)``.

Untrusted folders: every file the manifest names (graph and engine files, external_data lists, the
keys of "files") and every external-data location inside the graphs must be a plain relative name
that resolves, symlinks followed, inside the artifact folder. ``artifact_file(folder, name)`` (and
``Manifest.file_path``) is the one check every reader uses; a failure raises
``UnsafeArtifactPathError`` before anything is read or loaded.
"""

from __future__ import annotations

from .document import FORMAT_NAME, READABLE_SCHEMA_VERSIONS, SCHEMA_VERSION, ManifestRecord, parse_manifest
from .graphs import EngineRecord, GraphRecord, ShapeRange, TensorRecord
from .parity import EngineParity, ParityRecord, engine_parity_name
from .paths import MANIFEST_FILE, REEXPORT_HINT, artifact_file, regular_file_name, sha256_of
from .reading import Manifest, find_manifest, is_artifact, load_manifest
from .sections import (
    ExportRecord,
    FileRecord,
    InputRecord,
    PostprocessingRecord,
    PreprocessingRecord,
    SourceRecord,
)
from .writing import copy_manifest, file_records, update_manifest, write_manifest

__all__ = [
    "FORMAT_NAME",
    "MANIFEST_FILE",
    "READABLE_SCHEMA_VERSIONS",
    "REEXPORT_HINT",
    "SCHEMA_VERSION",
    "EngineParity",
    "EngineRecord",
    "ExportRecord",
    "FileRecord",
    "GraphRecord",
    "InputRecord",
    "Manifest",
    "ManifestRecord",
    "ParityRecord",
    "PostprocessingRecord",
    "PreprocessingRecord",
    "ShapeRange",
    "SourceRecord",
    "TensorRecord",
    "artifact_file",
    "copy_manifest",
    "engine_parity_name",
    "file_records",
    "find_manifest",
    "is_artifact",
    "load_manifest",
    "parse_manifest",
    "regular_file_name",
    "sha256_of",
    "update_manifest",
    "write_manifest",
]
