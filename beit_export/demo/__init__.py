"""The offline demos: small BEiT checkpoints trained here, shipped inside the package.

``beit-deploy/demo-segmentation``: BEiT + UperNet trained on procedural scenes (below).
``beit-deploy/demo-classification``: a BEiT classifier trained on scikit-learn's handwritten digits
(``digits``, ``train_classifier``; held-out split = the last 20% in load_digits order).

Both ship inside the package (``checkpoint_dir(model_id)``); ``python -m beit_export.demo.train``
retrains the segmentation one, ``python -m beit_export.demo.train_classifier`` the classifier (see that
module's docstring for the command and its duration). Scenes come from
``beit_export.demo.scenes``; ``beit_export.demo.metrics`` scores label maps against their masks.
"""

from __future__ import annotations

from pathlib import Path

from beit_export.errors import ModelLoadError

DEMO_MODEL_ID = "beit-deploy/demo-segmentation"
DEMO_CLASSIFIER_ID = "beit-deploy/demo-classification"
_CHECKPOINT_FILES = ("config.json", "model.safetensors", "preprocessor_config.json")
# model id -> (folder inside this package, the module that retrains it)
DEMO_CHECKPOINTS = {
    DEMO_MODEL_ID: ("checkpoint", "beit_export.demo.train"),
    DEMO_CLASSIFIER_ID: ("classifier_checkpoint", "beit_export.demo.train_classifier"),
}


def checkpoint_dir(model_id: str = DEMO_MODEL_ID) -> Path:
    """The folder of a shipped demo checkpoint (config.json, model.safetensors, preprocessor_config.json)."""
    if model_id not in DEMO_CHECKPOINTS:
        raise ModelLoadError(f"{model_id!r} is not a shipped demo model; expected one of {sorted(DEMO_CHECKPOINTS)}")
    name, trainer = DEMO_CHECKPOINTS[model_id]
    folder = Path(__file__).resolve().parent / name
    missing = [file for file in _CHECKPOINT_FILES if not (folder / file).is_file()]
    if missing:
        raise ModelLoadError(
            f"the demo checkpoint in {folder} lacks {', '.join(missing)}; reinstall beit-deploy or retrain it "
            f"with `python -m {trainer} --output {folder}`"
        )
    return folder
