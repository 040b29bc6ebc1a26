"""Reference outputs of the untouched Hugging Face model, and example inputs, for export tests."""

from __future__ import annotations

import torch

from beit_export.tasks import base_model
from beit_runtime.tasks import task as registry_task


def example_inputs(task: str, *, batch: int, height: int, width: int, patch: int = 8, seed: int = 0) -> tuple:
    """(pixel_values[, bool_masked_pos]) for ``task`` at ``height`` x ``width``."""
    generator = torch.Generator().manual_seed(seed)
    pixels = torch.randn((batch, 3, height, width), generator=generator)
    if "bool_masked_pos" not in registry_task(task).input_names:
        return (pixels,)
    patches = (height // patch) * (width // patch)
    return pixels, torch.rand((batch, patches), generator=generator) < 0.4


@torch.no_grad()
def hf_outputs(model: torch.nn.Module, task: str, inputs: tuple, names: list[str]) -> list[torch.Tensor]:
    """The HF model's outputs ``names`` for ``inputs``, called with ``interpolate_pos_encoding=True``."""
    target = base_model(model) if task == "backbone" else model
    kwargs = {"interpolate_pos_encoding": True}
    if len(inputs) == 2:
        kwargs["bool_masked_pos"] = inputs[1]
    result = target(inputs[0], **kwargs)
    return [getattr(result, name) for name in names]


def max_abs(a, b) -> float:
    a = a.detach().numpy() if isinstance(a, torch.Tensor) else a
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else b
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(abs(a - b).max())
