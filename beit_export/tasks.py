"""What the exporter adds to the task registry: the parts that need torch.

Everything else about a task (graph input/output names, dtypes and axes, the transformers classes
carrying it, tolerance kinds, labels) lives in ``beit_runtime.tasks``, which this module re-exports
as ``TASKS`` and ``TaskSpec`` (= ``beit_runtime.tasks.Task``; ``inputs``/``outputs`` are its graph
inputs/outputs) for the graph code.

Backbone exports carry ``pooler_output`` only when the model has a pooler: ``BeitModel`` always
has one (mean pooling + LayerNorm, or the CLS token), ``ViTModel`` only when built with
``add_pooling_layer=True`` (its pooler is Linear + tanh on the CLS token).
``resolve_task_spec(model, task)`` returns the entry with ``pooler_output`` dropped when absent.

A classifier's score function (the manifest's postprocessing "score") is ``score_function(config)``: what
transformers' image-classification pipeline applies by default for that config.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from beit_export.errors import UnsupportedCheckpointError
from beit_runtime.tasks import TASK_NAMES, TASKS, Task, TensorSpec, hf_class_names, task_for_hf_class

TaskSpec = Task
IOSpec = TensorSpec
BACKBONE = TASKS["backbone"]
_BASE_ATTRIBUTES = ("beit", "vit", "deit")
# the config model_types beit-export exports (every one some task's hf_classes names)
MODEL_TYPES = tuple(dict.fromkeys(model_type for entry in TASKS.values() for model_type in entry.hf_classes))

__all__ = ["MODEL_TYPES", "TASKS", "TASK_NAMES", "IOSpec", "TaskSpec", "base_model", "check_task", "detect_task",
           "resolve_task_spec", "score_function"]


def detect_task(model: torch.nn.Module) -> str:
    """The task a checkpoint's architecture carries natively, from its class name."""
    class_name = type(model).__name__
    entry = task_for_hf_class(class_name)
    if entry is not None:
        return entry.name
    raise UnsupportedCheckpointError(
        f"cannot export a {class_name}: expected one of {', '.join(hf_class_names())}. "
        f"Load the checkpoint with one of these classes (or pick --task {BACKBONE.name} for a BEiT/ViT encoder)."
    )


def base_model(model: torch.nn.Module) -> torch.nn.Module:
    """The BeitModel/ViTModel/DeiTModel inside ``model`` (``model`` itself for a backbone)."""
    if type(model).__name__ in BACKBONE.hf_classes.values():
        return model
    for attribute in _BASE_ATTRIBUTES:
        inner = getattr(model, attribute, None)
        if isinstance(inner, torch.nn.Module):
            return inner
    raise UnsupportedCheckpointError(
        f"{type(model).__name__} has no BEiT/ViT/DeiT encoder (.beit, .vit or .deit); expected a BEiT, ViT or "
        "DeiT model."
    )


def check_task(model: torch.nn.Module, task: str) -> str:
    """Validate ``task`` for ``model``: its native task, or "backbone" for any supported model."""
    if task not in TASKS:
        raise UnsupportedCheckpointError(f"unknown task {task!r}: expected one of {', '.join(TASK_NAMES)}.")
    native = detect_task(model)
    if task not in (native, BACKBONE.name):
        raise UnsupportedCheckpointError(
            f"a {type(model).__name__} carries the {native!r} task; it cannot be exported as {task!r} "
            f"(only as {native!r} or {BACKBONE.name!r}). Load a checkpoint with a {task} head instead."
        )
    return task


def resolve_task_spec(model: torch.nn.Module, task: str) -> Task:
    """The registry entry for ``task``, with ``pooler_output`` dropped for backbones without a pooler."""
    spec = TASKS[check_task(model, task)]
    if spec is BACKBONE and getattr(base_model(model), "pooler", None) is None:
        spec = replace(spec, graph_outputs=tuple(o for o in spec.graph_outputs if o.name != "pooler_output"))
    return spec


def score_function(config) -> str:
    """"none", "sigmoid" or "softmax" (``beit_runtime.tasks.SCORE_FUNCTIONS``), as
    ``ImageClassificationPipeline.postprocess`` picks its default ``function_to_apply``: regression -> none,
    multi-label or a single logit -> sigmoid, otherwise softmax."""
    problem_type = getattr(config, "problem_type", None)
    if problem_type == "regression":
        return "none"
    if problem_type == "multi_label_classification" or int(config.num_labels) == 1:
        return "sigmoid"
    return "softmax"
