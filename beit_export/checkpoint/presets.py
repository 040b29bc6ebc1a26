"""Architecture presets: config and preprocessing values of well-known checkpoints, no weights.

They let ``beit-export --model ID --random-init`` build the exact architecture offline. Each
``presets/OWNER--NAME.json`` holds ``model_id``, ``config`` (the hub's config.json values without
the label maps), ``preprocessor_config`` (the hub's preprocessor_config.json), ``label_set`` and
``notes`` (provenance and the values we are unsure of).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError

PRESETS_DIR = Path(__file__).parent / "presets"
_LABEL_SETS = {"imagenet-1k": 1000}


@dataclass(frozen=True)
class Preset:
    """One preset: ``config`` is ready for ``AutoConfig.for_model`` (id2label included when known)."""

    model_id: str
    config: dict[str, Any]
    preprocessor_config: dict[str, Any]
    notes: str


def _preset_file(model_id: str) -> Path:
    return PRESETS_DIR / (model_id.replace("/", "--") + ".json")


@cache
def preset_names() -> tuple[str, ...]:
    """The hub ids that have a preset, sorted."""
    names = []
    for path in PRESETS_DIR.glob("*--*.json"):
        names.append(json.loads(path.read_text(encoding="utf-8"))["model_id"])
    return tuple(sorted(names))


def has_preset(model_id: str) -> bool:
    return model_id in preset_names()


def _label_names(label_set: str | None) -> list[str] | None:
    if label_set is None:
        return None
    if label_set in _LABEL_SETS:
        # The class names are not shipped; generic names keep indices meaningful.
        return [f"{label_set.replace('-', '_')}_class_{i}" for i in range(_LABEL_SETS[label_set])]
    path = PRESETS_DIR / f"labels-{label_set}.json"
    return list(json.loads(path.read_text(encoding="utf-8"))["labels"])


def load_preset(model_id: str) -> Preset:
    """The preset for ``model_id``; ModelLoadError listing the known presets when there is none."""
    if not has_preset(model_id):
        known = "\n  ".join(preset_names())
        raise ModelLoadError(
            f"no architecture preset for {model_id!r}, so --random-init cannot build it offline. "
            f"Presets:\n  {known}\nor pass a local Hugging Face folder (config.json) with --random-init"
        )
    data = json.loads(_preset_file(model_id).read_text(encoding="utf-8"))
    config = dict(data["config"])
    names = _label_names(data.get("label_set"))
    if names is not None:
        config["id2label"] = {str(i): name for i, name in enumerate(names)}
        config["label2id"] = {name: i for i, name in enumerate(names)}
    return Preset(
        model_id=model_id,
        config=config,
        preprocessor_config=dict(data["preprocessor_config"]),
        notes=data.get("notes", ""),
    )
