"""Absolute position embeddings at any resolution, without Resize.

transformers' ``interpolate_pos_encoding`` (BEiT and ViT alike) resizes the patch position grid
with ``F.interpolate(mode="bicubic", align_corners=False)`` to ``(height // patch, width // patch)``
and computes the grid side with ``torch_int``, which freezes symbolic sizes in an export. The
replacements installed here on the embeddings instance compute the same thing:

- static: the embeddings for the export resolution, precomputed eagerly with HF's own code; at the
  configured size the stored table itself, as HF's forward adds it there (ViT without interpolation; a
  square grid's interpolation to its own size returns it too), so a non-square ``image_size`` exports.
- dynamic: bicubic interpolation matrices built from the symbolic size, applied with MatMul.

The table starts with one row per special token (CLS; DeiT's CLS and distillation tokens: ``special_tokens``),
kept as they are. HF interpolates the stored table as a square grid: a non-square one can only be used at its own size
(anything else raises ``UnsupportedCheckpointError``; the export preflight says so first).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from beit_export.errors import UnsupportedCheckpointError
from beit_export.modeling.interpolation import cubic_matrix, resize_channels_first


def _patch_size(embeddings: nn.Module) -> tuple[int, int]:
    size = embeddings.patch_embeddings.patch_size
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def special_tokens(embeddings: nn.Module) -> int:
    """The tokens before the patches: CLS, and DeiT's distillation token when the embeddings have one."""
    return 2 if getattr(embeddings, "distillation_token", None) is not None else 1


def dynamic_position_embeddings(position_embeddings: torch.Tensor, patch_size, height, width, *,
                                special: int = 1) -> torch.Tensor:
    """(1, special + h*w, dim) embeddings for an input of ``height`` x ``width`` (ints or symbolic)."""
    num_positions = position_embeddings.shape[1] - special
    side = math.isqrt(num_positions)
    dim = position_embeddings.shape[-1]
    new_height = height // patch_size[0]
    new_width = width // patch_size[1]
    grid = position_embeddings[0, special:].reshape(side, side, dim).permute(2, 0, 1)
    resized = resize_channels_first(grid, cubic_matrix(side, new_height), cubic_matrix(side, new_width))
    resized = resized.permute(1, 2, 0).reshape(1, new_height * new_width, dim)
    return torch.cat([position_embeddings[:, :special], resized], dim=1)


def _native_grid(embeddings: nn.Module, native_size: tuple[int, int]) -> tuple[int, int]:
    patch_size = _patch_size(embeddings)
    return native_size[0] // patch_size[0], native_size[1] // patch_size[1]


def _check_square_grid(grid: tuple[int, int], wanted: str) -> None:
    """UnsupportedCheckpointError when the stored table is not a square grid (HF interpolates it as one)."""
    if grid[0] != grid[1]:
        raise UnsupportedCheckpointError(
            f"the position embeddings hold a {grid[0]}x{grid[1]} patch grid, which transformers interpolates as "
            f"a square one: {wanted} needs a square image_size; export at config.json's image_size without "
            "--dynamic-resolution"
        )


def install_dynamic_interpolation(embeddings: nn.Module, *, native_size: tuple[int, int]) -> None:
    """Make ``embeddings.interpolate_pos_encoding`` export with symbolic height/width (``native_size``:
    config.json's image_size, the grid of the stored table)."""
    _check_square_grid(_native_grid(embeddings, native_size), "--dynamic-resolution")
    patch_size, special = _patch_size(embeddings), special_tokens(embeddings)

    def interpolate_pos_encoding(tokens: torch.Tensor, height, width) -> torch.Tensor:
        return dynamic_position_embeddings(embeddings.position_embeddings, patch_size, height, width,
                                           special=special)

    embeddings.interpolate_pos_encoding = interpolate_pos_encoding


@torch.no_grad()
def install_static_interpolation(embeddings: nn.Module, *, image_size: tuple[int, int],
                                 native_size: tuple[int, int]) -> None:
    """Make ``embeddings.interpolate_pos_encoding`` return constants precomputed for ``image_size``
    (``native_size``: config.json's image_size, the grid of the stored table)."""
    patch_size = _patch_size(embeddings)
    grid = (image_size[0] // patch_size[0], image_size[1] // patch_size[1])
    native_grid = _native_grid(embeddings, native_size)
    if grid == native_grid:
        table = embeddings.position_embeddings
    else:
        _check_square_grid(native_grid, f"a {image_size[0]}x{image_size[1]} graph")
        tokens = grid[0] * grid[1] + special_tokens(embeddings)
        dummy = torch.zeros(1, tokens, embeddings.position_embeddings.shape[-1])
        table = type(embeddings).interpolate_pos_encoding(embeddings, dummy, image_size[0], image_size[1])
    embeddings.register_buffer("static_position_embeddings", table.detach().clone(), persistent=False)

    def interpolate_pos_encoding(tokens: torch.Tensor, height, width) -> torch.Tensor:
        return embeddings.static_position_embeddings

    embeddings.interpolate_pos_encoding = interpolate_pos_encoding
