"""The tasks beit-deploy exports: graph input/output names, dtypes and axes, and task detection.

Axis entries are ints for fixed sizes and the strings "batch", "height", "width" (dynamic) or
"num_patches", "sequence", "num_labels", "hidden_size", "vocab_size", "label_height",
"label_width" (fixed per model, resolved by the exporter from the config).

Backbone exports carry ``pooler_output`` only when the model has a pooler: ``BeitModel`` always
has one (mean pooling + LayerNorm, or the CLS token), ``ViTModel`` only when built with
``add_pooling_layer=True`` (its pooler is Linear + tanh on the CLS token).
``resolve_task_spec(model, task)`` returns the spec with ``pooler_output`` dropped when absent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from beit_export.errors import UnsupportedCheckpointError


@dataclass(frozen=True)
class IOSpec:
    name: str
    dtype: str
    axes: tuple[int | str, ...]


@dataclass(frozen=True)
class TaskSpec:
    name: str
    hf_classes: tuple[str, ...]
    inputs: tuple[IOSpec, ...]
    outputs: tuple[IOSpec, ...]

    @property
    def input_names(self) -> list[str]:
        return [spec.name for spec in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [spec.name for spec in self.outputs]


PIXEL_VALUES = IOSpec("pixel_values", "float32", ("batch", "num_channels", "height", "width"))
BOOL_MASKED_POS = IOSpec("bool_masked_pos", "bool", ("batch", "num_patches"))

TASKS: dict[str, TaskSpec] = {
    "backbone": TaskSpec(
        name="backbone",
        hf_classes=("BeitModel", "ViTModel"),
        inputs=(PIXEL_VALUES,),
        outputs=(
            IOSpec("last_hidden_state", "float32", ("batch", "sequence", "hidden_size")),
            IOSpec("pooler_output", "float32", ("batch", "hidden_size")),
        ),
    ),
    "image-classification": TaskSpec(
        name="image-classification",
        hf_classes=("BeitForImageClassification", "ViTForImageClassification"),
        inputs=(PIXEL_VALUES,),
        outputs=(IOSpec("logits", "float32", ("batch", "num_labels")),),
    ),
    "masked-image-modeling": TaskSpec(
        name="masked-image-modeling",
        hf_classes=("BeitForMaskedImageModeling",),
        inputs=(PIXEL_VALUES, BOOL_MASKED_POS),
        outputs=(IOSpec("logits", "float32", ("batch", "num_patches", "vocab_size")),),
    ),
    "semantic-segmentation": TaskSpec(
        name="semantic-segmentation",
        hf_classes=("BeitForSemanticSegmentation",),
        inputs=(PIXEL_VALUES,),
        outputs=(IOSpec("logits", "float32", ("batch", "num_labels", "label_height", "label_width")),),
    ),
}

_BASE_ATTRIBUTES = ("beit", "vit")


def detect_task(model: torch.nn.Module) -> str:
    """The task a checkpoint's architecture carries natively, from its class name."""
    class_name = type(model).__name__
    for task, spec in TASKS.items():
        if class_name in spec.hf_classes:
            return task
    supported = sorted(name for spec in TASKS.values() for name in spec.hf_classes)
    raise UnsupportedCheckpointError(
        f"cannot export a {class_name}: expected one of {', '.join(supported)}. "
        "Load the checkpoint with one of these classes (or pick --task backbone for a BEiT/ViT encoder)."
    )


def base_model(model: torch.nn.Module) -> torch.nn.Module:
    """The BeitModel/ViTModel inside ``model`` (``model`` itself for a backbone)."""
    if type(model).__name__ in TASKS["backbone"].hf_classes:
        return model
    for attribute in _BASE_ATTRIBUTES:
        inner = getattr(model, attribute, None)
        if isinstance(inner, torch.nn.Module):
            return inner
    raise UnsupportedCheckpointError(
        f"{type(model).__name__} has no BEiT/ViT encoder (.beit or .vit); expected a BEiT or ViT model."
    )


def check_task(model: torch.nn.Module, task: str) -> str:
    """Validate ``task`` for ``model``: its native task, or "backbone" for any supported model."""
    if task not in TASKS:
        raise UnsupportedCheckpointError(f"unknown task {task!r}: expected one of {', '.join(TASKS)}.")
    native = detect_task(model)
    if task not in (native, "backbone"):
        raise UnsupportedCheckpointError(
            f"a {type(model).__name__} carries the {native!r} task; it cannot be exported as {task!r} "
            f"(only as {native!r} or 'backbone'). Load a checkpoint with a {task} head instead."
        )
    return task


def resolve_task_spec(model: torch.nn.Module, task: str) -> TaskSpec:
    """TASKS[task], with ``pooler_output`` dropped for backbones without a pooler."""
    spec = TASKS[check_task(model, task)]
    if task == "backbone" and getattr(base_model(model), "pooler", None) is None:
        spec = replace(spec, outputs=tuple(o for o in spec.outputs if o.name != "pooler_output"))
    return spec
