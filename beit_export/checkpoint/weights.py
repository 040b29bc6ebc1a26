"""What a checkpoint folder's weights say about its task, and what a load must not drop.

A config.json without ``architectures`` (older or hand-saved checkpoints) names no head, but the weights do:
``classifier.*`` is an image classifier, ``decode_head.*`` / ``auxiliary_head.*`` a UperNet segmenter,
``lm_head.*`` a masked-image-modeling head, ``cls_classifier.*`` / ``distillation_classifier.*`` DeiT's distilled
classifier (its class, not the task's default one: ``class_from_weight_names``); the task registry's ``head_weights``
lists them. ``task_from_weight_names`` reads the task from those names, and
``check_unexpected_keys`` refuses a load that would leave stored weights unused (transformers only logs them),
so a head is never dropped without ``--task backbone``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType

from ..errors import CheckpointConfigError, UnsupportedCheckpointError
from ..tasks import BACKBONE, TASKS

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
# the first name part of a head's weights -> the task that head serves (the registry's ``head_weights``)
HEAD_TASKS: Mapping[str, str] = MappingProxyType({
    head: entry.name for entry in TASKS.values() for head in entry.head_weights
})
# heads only another class than the task's default one carries: model_type -> head -> that class
TEACHER = "DeiTForImageClassificationWithTeacher"  # DeiT's two heads; "classifier" is DeiTForImageClassification's
HEAD_CLASSES: Mapping[str, Mapping[str, str]] = MappingProxyType({
    "deit": MappingProxyType({"cls_classifier": TEACHER, "distillation_classifier": TEACHER}),
})
# stored weights a model may leave unused without losing anything: the pooler of a checkpoint saved with one,
# loaded as a head model that pools by itself or not at all; the mask token of a checkpoint fine-tuned from a
# masked-image-modeling one (only masked inputs read it)
HARMLESS_UNUSED = ("pooler", "mask_token")


def weight_names(folder: Path) -> list[str] | None:
    """The parameter names stored in ``folder`` (the weight file transformers loads); None when they cannot be
    read without loading the weights (the load itself then reports what is wrong with the file)."""
    import torch

    name = next((name for name in WEIGHT_FILES if (folder / name).is_file()), None)
    path = folder / name if name is not None else None
    try:
        if path is None:
            return None
        if path.name.endswith(".index.json"):
            return list(json.loads(path.read_text(encoding="utf-8"))["weight_map"])
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as handle:
                return list(handle.keys())
        return list(torch.load(path, map_location="cpu", weights_only=True, mmap=True))
    except Exception:  # unreadable, corrupt, a legacy pickle: the load names the file and the fix
        return None


# transformers' base_model_prefix of the head classes: "vit.pooler.dense.weight", "deit.embeddings.cls_token"
BASE_PREFIXES = ("beit", "vit", "deit")


def _head(name: str) -> str:
    """The first part of a weight name below the base model's prefix: "classifier", "pooler", "encoder"..."""
    parts = name.split(".")
    return parts[1] if len(parts) > 2 and parts[0] in BASE_PREFIXES else parts[0]


def _harmless(name: str) -> bool:
    return _head(name) in HARMLESS_UNUSED or name.rsplit(".", 1)[-1] in HARMLESS_UNUSED


def _prefix(name: str) -> str:
    """``name`` up to its ``_head`` part, as a pattern: "classifier.*", "beit.pooler.*"."""
    parts = name.split(".")
    return ".".join(parts[: 2 if len(parts) > 2 and parts[0] in BASE_PREFIXES else 1]) + ".*"


def task_from_weight_names(names: Iterable[str]) -> str:
    """The task of the heads among ``names`` (backbone when none); UnsupportedCheckpointError when they disagree."""
    heads = sorted({name.split(".", 1)[0] for name in names if name.split(".", 1)[0] in HEAD_TASKS})
    tasks = sorted({HEAD_TASKS[head] for head in heads})
    if len(tasks) > 1:
        raise UnsupportedCheckpointError(
            f"config.json names no architecture and the weights hold heads of several tasks "
            f"({', '.join(f'{head}.*' for head in heads)}): pass --task with one of {tasks}"
        )
    return tasks[0] if tasks else BACKBONE.name


def class_from_weight_names(names: Iterable[str] | None, *, model_type: str, task: str) -> str | None:
    """The class that the ``task`` heads among ``names`` need when it is not the task's default class of
    ``model_type`` (DeiT's cls_classifier + distillation_classifier: the distilled classifier); else None."""
    heads = {_head(name) for name in names or ()}
    classes = {HEAD_CLASSES.get(model_type, {}).get(head) for head in heads if HEAD_TASKS.get(head) == task}
    classes.discard(None)
    return classes.pop() if len(classes) == 1 else None


def check_unexpected_keys(unexpected: Iterable[str], *, folder: Path, architecture: str, heads_allowed: bool,
                          named_in_config: bool) -> None:
    """CheckpointConfigError when loading ``architecture`` left stored weights unused, beyond ``HARMLESS_UNUSED``
    (and beyond task heads when ``heads_allowed``: ``--task backbone`` drops them on purpose).
    ``named_in_config``: config.json's architectures named ``architecture`` (else it came from the task)."""
    dropped = sorted(str(key) for key in unexpected if not _harmless(str(key)))
    if heads_allowed:
        dropped = [key for key in dropped if _head(key) not in HEAD_TASKS]
    if not dropped:
        return
    prefixes = ", ".join(sorted({_prefix(key) for key in dropped}))
    raise CheckpointConfigError(
        f"the weights in {folder} hold {len(dropped)} parameter(s) a {architecture} built from its config.json does "
        f"not use ({prefixes}), and the export would drop them: "
        + _advice(dropped, architecture=architecture, named_in_config=named_in_config)
    )


def _advice(dropped: list[str], *, architecture: str, named_in_config: bool) -> str:
    tasks = {HEAD_TASKS.get(_head(key)) for key in dropped}
    if len(tasks) != 1 or None in tasks:
        return "check that config.json (its architectures) and the weights belong together"
    task = tasks.pop()
    if named_in_config:
        return (f"they are the {task} head, and config.json's architectures names {architecture}: correct it, or "
                f"remove it and pass --task {task}")
    return f"they are the {task} head: pass --task {task} to export it (or --task backbone to leave it out on purpose)"
