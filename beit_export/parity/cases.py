"""Parity cases: named graph feeds plus the PyTorch model's outputs for them.

Random inputs at the checkpoint's resolution (batch 2 and batch 1, so the dynamic batch axis is
exercised), with ``dynamic_resolution`` two more resolutions (one larger, one non-square), and real
photos from scikit-image decoded and preprocessed by transformers' own PIL image processor. The
reference is the Hugging Face model itself (``interpolate_pos_encoding=True`` at other resolutions),
never the export wrapper.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..modeling import config_image_size
from ..tasks import base_model, resolve_task_spec
from .photos import hf_preprocess, sample_photos

MASK_RATIO = 0.4


@dataclass
class ParityCase:
    """Named graph feeds plus the PyTorch model's outputs for them."""

    name: str
    feeds: dict[str, np.ndarray]
    reference: dict[str, np.ndarray]


def parity_resolutions(config, *, dynamic_resolution: bool) -> list[tuple[int, int, int]]:
    """(batch, height, width) of the random-input cases."""
    height, width = config_image_size(config)
    patch = int(config.patch_size)
    cases = [(2, height, width), (1, height, width)]
    if dynamic_resolution:
        grow = max(2, round(height / patch / 2)) * patch
        cases.append((1, height + grow, width + grow))
        cases.append((3, max(2 * patch, height - 2 * patch), width + 2 * grow))
    return cases


@torch.no_grad()
def reference_outputs(checkpoint, feeds: dict[str, np.ndarray], output_names: list[str]) -> dict[str, np.ndarray]:
    """The Hugging Face model's outputs for ``feeds`` (names as in the graph)."""
    model, config = checkpoint.model, checkpoint.config
    pixel_values = torch.from_numpy(feeds["pixel_values"])
    kwargs: dict[str, Any] = {}
    if tuple(pixel_values.shape[-2:]) != config_image_size(config):
        kwargs["interpolate_pos_encoding"] = True
    if "bool_masked_pos" in feeds:
        kwargs["bool_masked_pos"] = torch.from_numpy(feeds["bool_masked_pos"])
    network = base_model(model) if checkpoint.task == "backbone" else model
    result = network(pixel_values=pixel_values, **kwargs)
    return {name: getattr(result, name).float().numpy() for name in output_names}


def _feeds(pixel_values: np.ndarray, task_spec, config, generator: torch.Generator) -> dict[str, np.ndarray]:
    feeds = {"pixel_values": np.ascontiguousarray(pixel_values, dtype=np.float32)}
    if "bool_masked_pos" in task_spec.input_names:
        batch, _, height, width = pixel_values.shape
        patches = (height // config.patch_size) * (width // config.patch_size)
        mask = torch.rand((batch, patches), generator=generator) < MASK_RATIO
        feeds["bool_masked_pos"] = mask.numpy()
    return feeds


def build_cases(checkpoint, *, dynamic_resolution: bool = False, seed: int = 0, photos: bool = True,
                model_type: str | None = None) -> list[ParityCase]:
    """Random and photo cases with their PyTorch references."""
    task_spec = resolve_task_spec(checkpoint.model, checkpoint.task)
    config, generator = checkpoint.config, torch.Generator().manual_seed(seed)
    channels = int(getattr(config, "num_channels", 3))
    cases = []
    for batch, height, width in parity_resolutions(config, dynamic_resolution=dynamic_resolution):
        pixels = torch.randn((batch, channels, height, width), generator=generator).numpy()
        cases.append(_case(f"random b{batch} {height}x{width}", pixels, checkpoint, task_spec, generator))
    if photos:
        for shape, pixels in photo_batches(checkpoint.preprocessing, model_type=model_type or config.model_type):
            cases.append(_case(f"photos b{len(pixels)} {shape[0]}x{shape[1]}", pixels, checkpoint, task_spec, generator))
    return cases


def _case(name, pixels, checkpoint, task_spec, generator) -> ParityCase:
    feeds = _feeds(pixels, task_spec, checkpoint.config, generator)
    return ParityCase(name=name, feeds=feeds, reference=reference_outputs(checkpoint, feeds, task_spec.output_names))


def photo_batches(preprocessing, *, model_type: str) -> list[tuple[tuple[int, int], np.ndarray]]:
    """scikit-image's photos preprocessed by HF's PIL processor, grouped into batches by resulting size."""
    groups: dict[tuple[int, int], list[np.ndarray]] = {}
    for _, image in sample_photos():
        pixels = hf_preprocess([image], preprocessing, model_type=model_type).numpy()[0]
        groups.setdefault(tuple(pixels.shape[-2:]), []).append(pixels)
    return [(shape, np.stack(items)) for shape, items in groups.items()]
