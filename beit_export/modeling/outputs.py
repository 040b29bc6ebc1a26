"""The optional ``hidden_states`` / ``attentions`` graph outputs, stacked from transformers' own tuples.

With ``output_hidden_states=True`` / ``output_attentions=True`` (eager attention) transformers returns a
tuple per output: the embeddings and each layer's output, and each layer's attention weights. The graph
outputs stack them on axis 1, (batch, layers + 1, tokens, hidden) and (batch, len(attention_layers), heads,
tokens, tokens), keeping only the layers ``ExtraOutputs.attention_layers`` names. Nothing here runs for a
default export: ``ExportModule`` calls the model with no flags then, so its graph is the one it always was.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from beit_runtime.tasks import Task

from ..outputs import ExtraOutputs


def extended_task_spec(task_spec: Task, extra: ExtraOutputs | None) -> Task:
    """``task_spec`` with the asked-for optional outputs appended to its graph outputs (registry order)."""
    if extra is None:
        return task_spec
    added = tuple(spec for spec in task_spec.optional_outputs if spec.name in extra.names)
    return replace(task_spec, graph_outputs=task_spec.graph_outputs + added)


def output_flags(extra: ExtraOutputs | None) -> dict[str, bool]:
    """The keyword flags the model is called with (none for a default export)."""
    if extra is None:
        return {}
    return {"output_hidden_states": extra.hidden_states, "output_attentions": extra.attentions}


def stacked_outputs(result: Any, extra: ExtraOutputs) -> dict[str, torch.Tensor]:
    """{"hidden_states": (B, L+1, T, D), "attentions": (B, len(layers), heads, T, T)} from a model's result."""
    stacked = {}
    if extra.hidden_states:
        stacked["hidden_states"] = torch.stack(tuple(result.hidden_states), dim=1)
    if extra.attentions:
        layers = tuple(result.attentions)
        stacked["attentions"] = torch.stack([layers[index] for index in extra.attention_layers], dim=1)
    return stacked


def segmentation_layers(model: Any, extra: ExtraOutputs | None) -> tuple[int | None, int]:
    """(encoder layers a segmentation export keeps, None: only those its feature maps read; how many LayerNorms
    of the kept layers feed nothing). UperNet reads no layer after ``max(out_indices) - 1``: the hidden states
    need every layer, attentions up to the last one exported, whose own MLP (and ``layernorm_after``) then feeds
    nothing, so the exporter drops it and the graph holds one LayerNormalization fewer than the module."""
    from .segmentation import unused_trailing_layers

    if extra is None:
        return None, 0
    total = len(model.beit.layers)
    if extra.hidden_states:
        return total, 0
    read = total - unused_trailing_layers(model)
    attended = max(extra.attention_layers) + 1
    return (read, 0) if attended <= read else (attended, 1)
