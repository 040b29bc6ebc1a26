"""Tiny exported graphs (fp32, fp16, int8 dynamic, int8 static QDQ) shared by the precision/TensorRT tests.

Built once per test session with the real exporter (``make_export_module`` + ``export_onnx``) from
``tests/tiny_models.py``; the PyTorch fp32 outputs on sample photos and random inputs are kept beside
them as the reference.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from beit_export.graph import export_onnx
from beit_export.modeling import make_export_module
from beit_export.parity import sample_photos
from beit_export.precision import convert_to_fp16, quantize_int8_dynamic, quantize_int8_static
from beit_runtime.tasks import TASK_NAMES
from beit_runtime.tasks import task as registry_task
from tests.tiny_models import tiny_model

TASKS = TASK_NAMES  # every task of the registry
SIZE = 32


@dataclass
class TinyGraphs:
    task: str
    folder: Path
    feeds: dict[str, np.ndarray]
    reference: dict[str, np.ndarray]
    reports: dict[str, dict] = field(default_factory=dict)

    def path(self, variant: str) -> Path:
        return self.folder / {"fp32": "model.onnx"}.get(variant, f"model.{variant}.onnx")


def photo_batch(size: int = SIZE) -> np.ndarray:
    """Sample photos resized (PIL bilinear) and normalized with mean = std = 0.5, as BEiT's processor does."""
    arrays = []
    for _, rgb in sample_photos():
        image = Image.fromarray(rgb).convert("RGB").resize((size, size), Image.BILINEAR)
        arrays.append(((np.asarray(image, np.float32) / 255.0 - 0.5) / 0.5).transpose(2, 0, 1))
    return np.stack(arrays)


def _feeds(task: str, model) -> dict[str, np.ndarray]:
    random = np.random.default_rng(0).standard_normal((4, 3, SIZE, SIZE)).astype(np.float32)
    feeds = {"pixel_values": np.concatenate([photo_batch(), random])}
    if "bool_masked_pos" in registry_task(task).input_names:
        patches = (SIZE // model.config.patch_size) ** 2
        feeds["bool_masked_pos"] = np.random.default_rng(1).random((len(feeds["pixel_values"]), patches)) < 0.4
    return feeds


def _export(task: str, folder: Path) -> TinyGraphs:
    model = tiny_model("beit", task)
    module = make_export_module(model, task=task, dynamic_resolution=False)
    feeds = _feeds(task, model)
    example = tuple(torch.from_numpy(feeds[spec.name][:2]) for spec in module.task_spec.inputs)
    graphs = TinyGraphs(task=task, folder=folder, feeds=feeds, reference={})
    export_onnx(module, task_spec=module.task_spec, path=graphs.path("fp32"), example_inputs=example)
    with torch.no_grad():
        outputs = module(*(torch.from_numpy(feeds[spec.name]) for spec in module.task_spec.inputs))
    graphs.reference = {spec.name: out.numpy() for spec, out in zip(module.task_spec.outputs, outputs, strict=True)}
    return graphs


def _convert(graphs: TinyGraphs) -> None:
    src = graphs.path("fp32")
    graphs.reports["fp16"] = convert_to_fp16(src, graphs.path("fp16"))
    graphs.reports["int8"] = quantize_int8_dynamic(src, graphs.path("int8"))
    batches = [{name: value[i : i + 2] for name, value in graphs.feeds.items()} for i in range(0, 6, 2)]
    # linear layers only: the random tiny segmentation head's logits are too small for int8 convolutions
    # (the pipeline falls back the same way); test_precision quantizes the head separately
    graphs.reports["int8-qdq"] = quantize_int8_static(src, graphs.path("int8-qdq"), calibration_batches=batches,
                                                      head_convolutions="none")


_FOLDERS: list[Path] = []


def remove_tiny_graphs() -> None:
    """Delete the folders ``tiny_graphs`` made (tests/conftest.py calls it at session end: atexit does
    not run in pytest-xdist workers, which leave with ``os._exit``)."""
    while _FOLDERS:
        shutil.rmtree(_FOLDERS.pop(), ignore_errors=True)
    tiny_graphs.cache_clear()


@functools.cache
def tiny_graphs(task: str) -> TinyGraphs:
    """The tiny ``task`` graphs in every precision, exported once per session."""
    folder = Path(tempfile.mkdtemp(prefix=f"beit-precision-{task}-"))
    _FOLDERS.append(folder)
    graphs = _export(task, folder)
    _convert(graphs)
    return graphs
