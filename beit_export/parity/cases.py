"""Parity cases: named graph feeds plus the PyTorch model's outputs for them.

Random inputs at the checkpoint's resolution (batch 2 and batch 1, so the dynamic batch axis is
exercised), with ``dynamic_resolution`` two more resolutions (one larger, one non-square), real
photos from scikit-image decoded and preprocessed by transformers' own PIL image processor, and the
user's own images when given (``--parity-data``, ``parity.user_images``). The
reference is the Hugging Face model itself (``interpolate_pos_encoding=True`` at other resolutions),
never the export wrapper.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..modeling import config_image_size
from ..modeling.outputs import extended_task_spec, output_flags, stacked_outputs
from ..outputs import ExtraOutputs, check_cases_fit
from ..tasks import BACKBONE, base_model, resolve_task_spec
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
def reference_outputs(checkpoint, feeds: dict[str, np.ndarray], output_names: list[str],
                      extra_outputs: ExtraOutputs | None = None) -> dict[str, np.ndarray]:
    """The Hugging Face model's outputs for ``feeds`` (names as in the graph); with ``extra_outputs`` the model
    runs with eager attention and ``output_hidden_states`` / ``output_attentions``, its tuples stacked."""
    model, config = checkpoint.model, checkpoint.config
    pixel_values = torch.from_numpy(feeds["pixel_values"])
    kwargs: dict[str, Any] = {}
    if tuple(pixel_values.shape[-2:]) != config_image_size(config):
        kwargs["interpolate_pos_encoding"] = True
    if "bool_masked_pos" in feeds:
        kwargs["bool_masked_pos"] = torch.from_numpy(feeds["bool_masked_pos"])
    network = base_model(model) if checkpoint.task == BACKBONE.name else model
    if extra_outputs is not None:
        network.set_attn_implementation("eager")
        kwargs.update(output_flags(extra_outputs))
    result = network(pixel_values=pixel_values, **kwargs)
    stacked = stacked_outputs(result, extra_outputs) if extra_outputs is not None else {}
    return {name: (stacked[name] if name in stacked else getattr(result, name)).float().numpy()
            for name in output_names}


def _feeds(pixel_values: np.ndarray, task_spec, config, generator: torch.Generator) -> dict[str, np.ndarray]:
    feeds = {"pixel_values": np.ascontiguousarray(pixel_values, dtype=np.float32)}
    if "bool_masked_pos" in task_spec.input_names:
        batch, _, height, width = pixel_values.shape
        patches = (height // config.patch_size) * (width // config.patch_size)
        mask = torch.rand((batch, patches), generator=generator) < MASK_RATIO
        feeds["bool_masked_pos"] = mask.numpy()
    return feeds


def build_cases(checkpoint, *, dynamic_resolution: bool = False, seed: int = 0, photos: bool = True,
                model_type: str | None = None, user_batches: Sequence[np.ndarray] = (),
                extra_outputs: ExtraOutputs | None = None) -> list[ParityCase]:
    """Random and photo cases with their PyTorch references; ``user_batches``: preprocessed batches of the
    user's own images (``--parity-data``), added as "user ..." cases; ``extra_outputs``: the optional outputs
    (``--outputs``) the graph carries, referenced too."""
    task_spec = extended_task_spec(resolve_task_spec(checkpoint.model, checkpoint.task), extra_outputs)
    config, generator = checkpoint.config, torch.Generator().manual_seed(seed)
    channels = int(getattr(config, "num_channels", 3))
    cases = []
    for batch, height, width in parity_resolutions(config, dynamic_resolution=dynamic_resolution):
        pixels = torch.randn((batch, channels, height, width), generator=generator).numpy()
        name = f"random b{batch} {height}x{width}"
        cases.append(_case(name, pixels, checkpoint, task_spec, generator, extra_outputs))
    batches = photo_batches(checkpoint.preprocessing, model_type=model_type or config.model_type) if photos else []
    if extra_outputs is not None:  # photos and user images keep their own sizes under some recipes
        for kind, arrays in (("scikit-image photos", [pixels for _, pixels in batches]),
                             ("--parity-data images", list(user_batches))):
            if arrays:
                check_cases_fit(extra_outputs, config, [(len(a), a.shape[2], a.shape[3]) for a in arrays], kind=kind)
    for shape, pixels in batches:
        name = f"photos b{len(pixels)} {shape[0]}x{shape[1]}"
        cases.append(_case(name, pixels, checkpoint, task_spec, generator, extra_outputs))
    for pixels in user_batches:
        name = f"user b{len(pixels)} {pixels.shape[2]}x{pixels.shape[3]}"
        cases.append(_case(name, pixels, checkpoint, task_spec, generator, extra_outputs))
    return cases


def _case(name, pixels, checkpoint, task_spec, generator, extra_outputs=None) -> ParityCase:
    feeds = _feeds(pixels, task_spec, checkpoint.config, generator)
    reference = reference_outputs(checkpoint, feeds, task_spec.output_names, extra_outputs)
    return ParityCase(name=name, feeds=feeds, reference=reference)


def photo_batches(preprocessing, *, model_type: str) -> list[tuple[tuple[int, int], np.ndarray]]:
    """scikit-image's photos preprocessed by HF's PIL processor, grouped into batches by resulting size."""
    groups: dict[tuple[int, int], list[np.ndarray]] = {}
    for _, image in sample_photos():
        pixels = hf_preprocess([image], preprocessing, model_type=model_type).numpy()[0]
        groups.setdefault(tuple(pixels.shape[-2:]), []).append(pixels)
    return [(shape, np.stack(items)) for shape, items in groups.items()]
