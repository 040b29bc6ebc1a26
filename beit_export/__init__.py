"""beit_export: turn Hugging Face BEiT/ViT checkpoints into validated ONNX artifact folders.

The parts (each a subpackage whose ``__init__`` names its public functions):

- ``checkpoint``: local folders, hub downloads, presets for ``--random-init``, preprocessing recipes;
- ``modeling``: export-friendly replacements (relative position bias, position interpolation, UperNet);
- ``graph``: torch -> ONNX export, structural checks, graph I/O, the segmentation post-processing graph;
- ``precision``: fp16 and int8 graphs; ``parity``: every graph against PyTorch, with tolerances;
- ``tensorrt``: static parser compatibility and the engine builder; ``artifact``: staged folders and
  the manifest; ``cli``: ``beit-export``; ``demo``: the shipped demo checkpoints.

``export_artifact`` (``pipeline``) runs them in order with an ``ExportOptions`` (``options``).
Public API (imported lazily, so ``beit-export --help`` does not pay for torch): ``load_checkpoint``,
``checkpoint_from_model``, ``LoadedCheckpoint``, ``export_artifact``, ``ExportOptions``,
``check_parity``, ``preset_names``/``load_preset``. Command line: ``beit-export --help``.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "load_checkpoint": "beit_export.checkpoint",
    "checkpoint_from_model": "beit_export.checkpoint",
    "LoadedCheckpoint": "beit_export.checkpoint",
    "export_artifact": "beit_export.pipeline",
    "ExportOptions": "beit_export.options",
    "check_parity": "beit_export.parity",
    "preset_names": "beit_export.checkpoint",
    "load_preset": "beit_export.checkpoint",
}

# the lazy table's keys are the public names; a literal list would repeat them
__all__ = ["__version__", *_LAZY]  # noqa: PLE0604


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'beit_export' has no attribute {name!r}")
