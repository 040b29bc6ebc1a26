"""Checkpoints in: a local Hugging Face folder, a hub id (downloaded and cached), or a preset with random weights.

``load_checkpoint`` returns a ``LoadedCheckpoint`` (model in eval mode, config, task, preprocessing
recipe, labels, source record); ``checkpoint_from_model`` wraps an in-memory model. ``presets`` holds
the architectures that ``--random-init`` builds offline; ``recipe`` turns a checkpoint's
preprocessor_config.json into the manifest's preprocessing recipe (and back into the HF processor).
"""

from __future__ import annotations

from .hub import download_checkpoint
from .loading import SUPPORTED_ARCHITECTURES, LoadedCheckpoint, checkpoint_from_model, load_checkpoint
from .presets import Preset, has_preset, load_preset, preset_names
from .random_init import randomize_zero_initialised
from .recipe import RESAMPLE_NAMES, processor_from_recipe, recipe_from_processor_config

__all__ = [
    "RESAMPLE_NAMES",
    "SUPPORTED_ARCHITECTURES",
    "LoadedCheckpoint",
    "Preset",
    "checkpoint_from_model",
    "download_checkpoint",
    "has_preset",
    "load_checkpoint",
    "load_preset",
    "preset_names",
    "processor_from_recipe",
    "randomize_zero_initialised",
    "recipe_from_processor_config",
]
