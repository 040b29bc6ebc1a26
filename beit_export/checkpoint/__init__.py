"""Checkpoints in: a local Hugging Face folder, a hub id (downloaded and cached), or a preset with random weights.

``locate_checkpoint`` finds what ``--model`` names (the download included) without importing torch;
``load_checkpoint`` (= ``load_located(locate_checkpoint(...))``) returns a ``LoadedCheckpoint`` (model in eval
mode, config, task, preprocessing recipe, labels, source record); ``checkpoint_from_model`` wraps an in-memory
model. ``presets`` holds the architectures that ``--random-init`` builds offline; ``recipe`` turns a
checkpoint's preprocessor_config.json into the manifest's preprocessing recipe (and back into the HF processor).

The names whose modules import torch (``loading``, ``random_init``) load on first use, so a hub or path
failure answers before torch and transformers are imported.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .hub import download_checkpoint
from .location import CheckpointLocation, locate_checkpoint
from .presets import Preset, has_preset, load_preset, preset_names
from .recipe import RESAMPLE_NAMES, processor_from_recipe, recipe_from_processor_config

if TYPE_CHECKING:
    from .loading import SUPPORTED_ARCHITECTURES, LoadedCheckpoint, checkpoint_from_model, load_checkpoint, load_located
    from .random_init import randomize_zero_initialised

# the names whose modules import torch, loaded on first use
_WITH_TORCH = {
    "SUPPORTED_ARCHITECTURES": "loading", "LoadedCheckpoint": "loading", "checkpoint_from_model": "loading",
    "load_checkpoint": "loading", "load_located": "loading", "randomize_zero_initialised": "random_init",
}

__all__ = [
    "RESAMPLE_NAMES",
    "SUPPORTED_ARCHITECTURES",
    "CheckpointLocation",
    "LoadedCheckpoint",
    "Preset",
    "checkpoint_from_model",
    "download_checkpoint",
    "has_preset",
    "load_checkpoint",
    "load_located",
    "load_preset",
    "locate_checkpoint",
    "preset_names",
    "processor_from_recipe",
    "randomize_zero_initialised",
    "recipe_from_processor_config",
]


def __getattr__(name: str):
    if name in _WITH_TORCH:
        return getattr(importlib.import_module(f"{__name__}.{_WITH_TORCH[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
