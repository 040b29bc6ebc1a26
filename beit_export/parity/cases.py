"""Parity cases: named graph feeds plus the PyTorch model's outputs for them.

Random inputs at the checkpoint's resolution (batch 2 and batch 1, so the dynamic batch axis is
exercised), with ``dynamic_resolution`` two more resolutions (one larger, one non-square), real
photos from scikit-image decoded and preprocessed by transformers' own PIL image processor, and the
user's own images when given (``--parity-data``, ``parity.user_images``). The
reference is the Hugging Face model itself (``interpolate_pos_encoding=True`` at other resolutions),
never the export wrapper.

Memory (``parity.memory``): with a recipe that keeps each image's size, a photo larger than
``photo_token_limit`` allows is scaled down to it and checked alone, its case named after it ("photos b1
472x544 hubble_deep_field (scaled down from 872x1000)"); photos of one size are batched while the batch
stays within ``PHOTO_CASE_BUDGET``. Every case is sized before the first reference runs, and a set that
would not fit in memory is refused (``check_cases_fit``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..modeling import config_image_size
from ..modeling.outputs import extended_task_spec, output_flags, stacked_outputs
from ..outputs import ExtraOutputs
from ..tasks import BACKBONE, base_model, resolve_task_spec
from .memory import PHOTO_CASE_BUDGET, PlannedCase, check_cases_fit, photo_batch_limit, photo_token_limit, tokens_of
from .photos import hf_preprocess, keeps_image_size, sample_photos, scaled_to_tokens

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


def random_cases(config: Any, *, dynamic_resolution: bool) -> list[PlannedCase]:
    """The random-input cases, named, before their inputs are drawn."""
    return [PlannedCase(f"random b{batch} {height}x{width}", batch, height, width)
            for batch, height, width in parity_resolutions(config, dynamic_resolution=dynamic_resolution)]


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
    (``--outputs``) the graph carries, referenced too. Refused (``check_cases_fit``) before any reference runs
    when the cases would not fit in memory."""
    task_spec = extended_task_spec(resolve_task_spec(checkpoint.model, checkpoint.task), extra_outputs)
    config, generator = checkpoint.config, torch.Generator().manual_seed(seed)
    channels = int(getattr(config, "num_channels", 3))
    randoms = random_cases(config, dynamic_resolution=dynamic_resolution)
    pictures = photo_batches(checkpoint.preprocessing, model_type=model_type or config.model_type, config=config,
                             extra_outputs=extra_outputs) if photos else []
    pictures += [(f"user b{len(pixels)} {pixels.shape[2]}x{pixels.shape[3]}", pixels) for pixels in user_batches]
    planned = [PlannedCase(name, len(pixels), pixels.shape[2], pixels.shape[3]) for name, pixels in pictures]
    check_cases_fit(randoms + planned, config, extra=extra_outputs)
    cases = []
    for drawn in randoms:
        pixels = torch.randn((drawn.batch, channels, drawn.height, drawn.width), generator=generator).numpy()
        cases.append(_case(drawn.name, pixels, checkpoint, task_spec, generator, extra_outputs))
    for name, pixels in pictures:
        cases.append(_case(name, pixels, checkpoint, task_spec, generator, extra_outputs))
    return cases


def _case(name, pixels, checkpoint, task_spec, generator, extra_outputs=None) -> ParityCase:
    feeds = _feeds(pixels, task_spec, checkpoint.config, generator)
    reference = reference_outputs(checkpoint, feeds, task_spec.output_names, extra_outputs)
    return ParityCase(name=name, feeds=feeds, reference=reference)


def photo_batches(preprocessing: Any, *, model_type: str, config: Any, extra_outputs: ExtraOutputs | None = None,
                  budget: int = PHOTO_CASE_BUDGET) -> list[tuple[str, np.ndarray]]:
    """scikit-image's photos preprocessed by HF's PIL processor, as (case name, batch) pairs: photos of one size
    batched while a batch stays within ``budget`` bytes (``parity.memory``); with a recipe that keeps each
    image's size, a photo over ``photo_token_limit`` is scaled down to it first and checked alone."""
    patch, limit = int(config.patch_size), photo_token_limit(config, extra_outputs, budget=budget)
    groups: dict[tuple[int, int], list[np.ndarray]] = {}
    scaled = []
    for name, image in sample_photos():
        if keeps_image_size(preprocessing) and tokens_of(*image.shape[:2], patch_size=patch) > limit:
            small = scaled_to_tokens(image, patch_size=patch, max_tokens=limit)
            pixels = hf_preprocess([small], preprocessing, model_type=model_type).numpy()
            shown = f"{pixels.shape[2]}x{pixels.shape[3]} {name} (scaled down from {image.shape[0]}x{image.shape[1]})"
            scaled.append((f"photos b1 {shown}", pixels))
            continue
        pixels = hf_preprocess([image], preprocessing, model_type=model_type).numpy()[0]
        groups.setdefault((pixels.shape[-2], pixels.shape[-1]), []).append(pixels)
    return _size_batches(groups, config, extra_outputs, budget=budget) + scaled


def _size_batches(groups: dict[tuple[int, int], list[np.ndarray]], config: Any, extra_outputs: ExtraOutputs | None,
                  *, budget: int) -> list[tuple[str, np.ndarray]]:
    """Photos of one size (``groups``: (height, width) -> CHW arrays) in batches within ``budget``, named."""
    batches = []
    for (height, width), items in groups.items():
        size = photo_batch_limit(tokens_of(height, width, patch_size=int(config.patch_size)), config, extra_outputs,
                                 budget=budget)
        parts = [items[start:start + size] for start in range(0, len(items), size)]
        for number, part in enumerate(parts, start=1):
            suffix = f" ({number}/{len(parts)})" if len(parts) > 1 else ""
            batches.append((f"photos b{len(part)} {height}x{width}{suffix}", np.stack(part)))
    return batches
