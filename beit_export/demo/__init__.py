"""The offline demo: a small BEiT segmentation checkpoint trained on procedural scenes.

The checkpoint ships inside the package (``checkpoint_dir()``); ``python -m beit_export.demo.train``
retrains it (see that module's docstring for the command and its duration). Scenes come from
``beit_export.demo.scenes``; ``beit_export.demo.metrics`` scores label maps against their masks.
"""

from __future__ import annotations

from pathlib import Path

from beit_export.errors import ModelLoadError

DEMO_MODEL_ID = "beit-deploy/demo-segmentation"
_CHECKPOINT_FILES = ("config.json", "model.safetensors", "preprocessor_config.json")


def checkpoint_dir() -> Path:
    """The folder of the shipped demo checkpoint (config.json, model.safetensors, preprocessor_config.json)."""
    folder = Path(__file__).resolve().parent / "checkpoint"
    missing = [name for name in _CHECKPOINT_FILES if not (folder / name).is_file()]
    if missing:
        raise ModelLoadError(
            f"the demo checkpoint in {folder} lacks {', '.join(missing)}; reinstall beit-deploy or retrain it "
            f"with `python -m beit_export.demo.train --output {folder}`"
        )
    return folder
