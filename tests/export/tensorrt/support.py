"""Helpers for the TensorRT tests: a minimal artifact folder, and why TensorRT tests must skip here."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from beit_runtime.errors import BackendUnavailableError
from beit_runtime.manifest import FORMAT_NAME, MANIFEST_FILE, SCHEMA_VERSION, sha256_of

GRAPH_FILES = {
    "fp32": "model.onnx", "fp16": "model.fp16.onnx", "int8": "model.int8.onnx", "int8-qdq": "model.int8-qdq.onnx",
}


def tensorrt_unavailable_reason() -> str | None:
    """None when TensorRT and a CUDA GPU are usable here, else the reason the tests skip."""
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return "TensorRT is not installed (pip install beit-deploy[tensorrt] on a machine with an NVIDIA GPU)"
    return cuda_unavailable_reason()


def cuda_unavailable_reason() -> str | None:
    """None when cuda-python sees a GPU, else the reason GPU tests skip."""
    from beit_runtime.engines.tensorrt_cuda import device_properties

    try:
        device_properties(0)
    except BackendUnavailableError as error:
        return f"no usable CUDA GPU: {error}"
    return None


def write_artifact(folder: Path, graphs: dict[str, Path], *, task: str, size: int = 32, patch: int = 8,
                   inputs: list[dict], outputs: list[dict], dynamic_resolution: bool = False) -> Path:
    """An artifact folder holding ``graphs`` (variant -> ONNX path) and a manifest describing them."""
    folder.mkdir(parents=True, exist_ok=True)
    records = {}
    for variant, source in graphs.items():
        shutil.copyfile(source, folder / GRAPH_FILES[variant])
        precision = "int8" if variant.startswith("int8") else variant
        records[variant] = {"file": GRAPH_FILES[variant], "precision": precision, "opset": 18, "role": "model",
                            "inputs": inputs, "outputs": outputs, "external_data": [], "notes": ""}
    manifest = {
        "format": FORMAT_NAME,
        "schema_version": SCHEMA_VERSION,
        "task": task,
        "source": {"model": "tiny", "revision": None, "architecture": "test", "model_type": "beit",
                   "random_init": True},
        "input": {"height": size, "width": size, "patch_size": patch, "dynamic_batch": True,
                  "dynamic_resolution": dynamic_resolution, "num_channels": 3},
        "preprocessing": {"do_resize": True, "size": {"height": size, "width": size}, "resample": "bilinear",
                          "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
                          "image_mean": [0.5] * 3, "image_std": [0.5] * 3},
        "labels": None,
        "graphs": records,
        "files": {name: {"sha256": sha256_of(folder / name), "bytes": (folder / name).stat().st_size}
                  for name in (r["file"] for r in records.values())},
    }
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return folder


def pixel_input(*, size: int = 32, dynamic_resolution: bool = False) -> dict:
    spatial = ["height", "width"] if dynamic_resolution else [size, size]
    return {"name": "pixel_values", "dtype": "float32", "shape": ["batch", 3, *spatial]}
