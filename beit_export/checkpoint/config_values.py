"""The values of a checkpoint's config.json, checked before transformers builds a model from them.

transformers accepts a zero patch size, an image smaller than one patch or a JSON list where an object
belongs, and fails later deep inside model building or the export (ZeroDivisionError, a Reshape error).
These checks turn such values into a ``CheckpointConfigError`` naming the file, the field and what is
expected.
"""

from __future__ import annotations

import json
from typing import Any

from beit_runtime.tasks import BOOL_MASKED_POS, TASKS

from ..errors import CheckpointConfigError

POSITIVE_INT_FIELDS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                       "patch_size", "num_channels")


def json_object(data: Any, *, where: str) -> dict[str, Any]:
    """``data`` when it is a JSON object; CheckpointConfigError naming ``where`` otherwise."""
    if not isinstance(data, dict):
        kind = "null" if data is None else type(data).__name__
        raise CheckpointConfigError(
            f"{where} holds a JSON {kind}; expected a JSON object ({{\"key\": value, ...}}) as save_pretrained "
            "writes it: re-download or re-save the checkpoint"
        )
    return data


def check_config_values(config: Any, *, where: str) -> None:
    """CheckpointConfigError when a size field of ``config`` cannot describe a model."""
    for name in POSITIVE_INT_FIELDS:
        value = getattr(config, name, None)
        if value is not None and not _positive_int(value):
            raise CheckpointConfigError(f"{where}: {name} is {value!r}; expected a positive integer")
    if config.hidden_size % config.num_attention_heads:
        raise CheckpointConfigError(
            f"{where}: hidden_size {config.hidden_size} is not a multiple of num_attention_heads "
            f"{config.num_attention_heads}; expected hidden_size = heads x head size"
        )
    _check_image_size(config.image_size, patch=config.patch_size, where=where)


def check_task_config(config: Any, *, architecture: str, task: str, where: str) -> None:
    """CheckpointConfigError when ``config`` cannot build ``architecture`` for ``task``: a task whose graph takes a
    patch mask (masked image modeling) replaces the masked patches' embeddings by the mask token, which
    ``use_mask_token: false`` leaves out (the export would fail deep inside torch.export)."""
    value = getattr(config, "use_mask_token", None)
    if BOOL_MASKED_POS in TASKS[task].graph_inputs and not value:
        raise CheckpointConfigError(
            f"{where}: use_mask_token is {json.dumps(value)}, and {architecture} needs the "
            'mask token (the embedding of a masked patch): set "use_mask_token": true in config.json when the '
            "weights hold beit.embeddings.mask_token (BEiT's pre-trained checkpoints do), or export the encoder "
            "alone with --task backbone"
        )


def _check_image_size(size: Any, *, patch: int, where: str) -> None:
    sides = [size, size] if _positive_int(size) else size
    valid = isinstance(sides, (list, tuple)) and len(sides) == 2 and all(_positive_int(side) for side in sides)
    if not valid or any(side < patch or side % patch for side in sides):
        raise CheckpointConfigError(
            f"{where}: image_size is {size!r}; expected a positive multiple of patch_size {patch} (e.g. 224 "
            "with patch_size 16), or a [height, width] pair of them. Fix config.json: "
            "--dynamic-resolution does not help, the position embeddings are sized from image_size"
        )


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def check_labels(id2label: Any, *, where: str) -> dict[int, str]:
    """``id2label`` with int ids when they are exactly 0..n-1 (one per logit of the n-logit head the config
    builds); CheckpointConfigError naming ``where`` otherwise (the runtime would invent names for the others)."""
    try:
        labels = {int(key): str(value) for key, value in dict(id2label or {}).items()}
    except (TypeError, ValueError):
        labels = {}
    ids = sorted(labels)
    if not labels or ids != list(range(len(labels))):
        found = sorted(dict(id2label or {}), key=str)
        raise CheckpointConfigError(
            f"{where}: id2label has ids {found}; expected exactly 0..{max(len(found) - 1, 0)}, one per logit of the "
            f"{len(found)}-logit head it builds: renumber id2label (and label2id) in config.json"
        )
    return labels
