"""beit_export: turn Hugging Face BEiT/ViT checkpoints into validated ONNX artifact folders.

Public API (imported lazily, so ``beit-export --help`` does not pay for torch):
``load_checkpoint``, ``checkpoint_from_model``, ``LoadedCheckpoint`` (beit_export.loading),
``export_artifact`` (beit_export.pipeline), ``check_parity`` (beit_export.parity),
``preset_names``/``load_preset`` (beit_export.presets). Command line: ``beit-export --help``.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "load_checkpoint": "beit_export.loading",
    "checkpoint_from_model": "beit_export.loading",
    "LoadedCheckpoint": "beit_export.loading",
    "export_artifact": "beit_export.pipeline",
    "check_parity": "beit_export.parity",
    "preset_names": "beit_export.presets",
    "load_preset": "beit_export.presets",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'beit_export' has no attribute {name!r}")
