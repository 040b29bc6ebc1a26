"""Random weights that exercise every path: transformers zero-initialises some parameters.

``_init_weights`` zeroes BEiT's relative position bias tables, CLS/mask tokens and position
embeddings, and DeiT's distillation token. A graph whose bias tables are all zero cannot show a wrong
gather (nor one whose distillation token is zero a wrong token order), so random-init models
(``--random-init``) and test models draw those at random too.
"""

from __future__ import annotations

import torch

_ZERO_INITIALISED_SUFFIXES = (
    "relative_position_bias_table",
    "cls_token",
    "distillation_token",  # DeiT's, after the CLS token: read by the distillation head and every layer
    "mask_token",
    "position_embeddings",
)


@torch.no_grad()
def randomize_zero_initialised(model: torch.nn.Module, *, seed: int = 0, std: float = 0.02) -> torch.nn.Module:
    """Draw the parameters transformers leaves at zero from N(0, std^2), reproducibly; returns ``model``."""
    generator = torch.Generator().manual_seed(seed)
    for name, parameter in model.named_parameters():
        if name.endswith(_ZERO_INITIALISED_SUFFIXES):
            noise = torch.randn(parameter.shape, generator=generator, dtype=torch.float32) * std
            parameter.copy_(noise.to(parameter.dtype))
    return model
