"""Make ``BeitForSemanticSegmentation`` exportable, exactly.

``prepare_segmentation_model(model)`` edits a model in place (``make_export_module`` hands it a deep copy):

* the auxiliary FCN head is removed: it only feeds the training loss, never ``logits``;
* every ``nn.AdaptiveAvgPool2d`` of the pyramid pooling module becomes :class:`ExactAdaptiveAvgPool2d`,
  which pools with two averaging matrices, ``P_h @ x @ P_w^T``. Row ``i`` of ``P`` averages the bin
  ``[floor(i*n/s), ceil((i+1)*n/s))`` exactly as ``torch.nn.AdaptiveAvgPool2d`` does, so uneven bins
  (a 640 input gives a 20x20 map: 20 is divisible by neither 3 nor 6) are right. The TorchScript
  exporter refuses such pooling and the dynamo exporter specialises it to the example size.

* every bilinear ``F.interpolate(align_corners=False)`` of the UperNet head (pyramid pooling
  upsampling, top-down path, FPN fusion) becomes the same product with bilinear interpolation
  matrices (:func:`resize_bilinear`): torch's half-pixel source positions, clamped at 0, two taps. The
  graph then has no ``Resize`` node at all, so ``check_no_index_building`` holds for segmentation too
  and TensorRT sees plain MatMuls. At 640 this adds about 6 GMACs to the ~960 GMACs of the model.

For a static export the matrices are constants (Python ``int`` sizes); under symbolic sizes (dynamic
resolution) they are computed in the graph from the sizes with Range/compare/divide arithmetic only.
The head's forward is re-stated in :class:`MatrixUperHead` line for line from transformers 5.23's
``BeitUperHead.forward``; the parity checks compare it with the untouched model.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..errors import UnsupportedCheckpointError


# ----------------------------------------------------------------------------- matrices
def adaptive_pool_matrix(in_size: int, out_size: int) -> np.ndarray:
    """(out_size, in_size) float32 matrix whose row i averages torch's adaptive bin i."""
    if in_size < 1 or out_size < 1:
        raise ValueError(f"adaptive pooling needs positive sizes, got in_size={in_size}, out_size={out_size}")
    matrix = np.zeros((out_size, in_size), dtype=np.float32)
    for i in range(out_size):
        start = (i * in_size) // out_size
        end = -((-(i + 1) * in_size) // out_size)  # ceil((i+1)*in/out) in integers
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


def _symbolic_pool_matrix(in_size, out_size: int, like: torch.Tensor) -> torch.Tensor:
    """The same matrix built with tensor arithmetic from a symbolic ``in_size``."""
    rows = torch.arange(out_size, device=like.device, dtype=torch.int64).unsqueeze(1)
    cols = torch.arange(in_size, device=like.device, dtype=torch.int64).unsqueeze(0)
    start = torch.div(rows * in_size, out_size, rounding_mode="floor")
    end = torch.div((rows + 1) * in_size + out_size - 1, out_size, rounding_mode="floor")
    inside = (cols >= start) & (cols < end)
    return inside.to(like.dtype) / (end - start).to(like.dtype)


def bilinear_matrix(in_size: int, out_size: int) -> np.ndarray:
    """(out_size, in_size) float32 matrix of torch's bilinear, align_corners=False (no antialias)."""
    if in_size < 1 or out_size < 1:
        raise ValueError(f"bilinear resizing needs positive sizes, got in_size={in_size}, out_size={out_size}")
    scale = np.float32(in_size) / np.float32(out_size)
    source = np.maximum(scale * (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) - np.float32(0.5), 0)
    low = np.minimum(np.floor(source).astype(np.int64), in_size - 1)
    weight = np.clip(source - low, 0.0, 1.0).astype(np.float32)
    high = np.minimum(low + 1, in_size - 1)
    matrix = np.zeros((out_size, in_size), dtype=np.float32)
    rows = np.arange(out_size)
    np.add.at(matrix, (rows, low), 1.0 - weight)
    np.add.at(matrix, (rows, high), weight)
    return matrix


def _symbolic_bilinear_matrix(in_size, out_size, like: torch.Tensor) -> torch.Tensor:
    """The same matrix from symbolic sizes: Range, Mul, Floor, Min/Max and Equal only."""
    dtype = like.dtype
    scale = in_size / out_size
    source = torch.clamp((torch.arange(out_size, device=like.device, dtype=dtype) + 0.5) * scale - 0.5, min=0.0)
    low = torch.clamp(torch.floor(source), max=in_size - 1)
    weight = torch.clamp(source - low, 0.0, 1.0).unsqueeze(1)
    high = torch.clamp(low + 1, max=in_size - 1)
    cols = torch.arange(in_size, device=like.device, dtype=dtype).unsqueeze(0)
    return (cols == low.unsqueeze(1)).to(dtype) * (1.0 - weight) + (cols == high.unsqueeze(1)).to(dtype) * weight


def _constant(matrix: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(matrix).to(device=like.device, dtype=like.dtype)


def resize_bilinear(hidden_states: torch.Tensor, size) -> torch.Tensor:
    """``F.interpolate(hidden_states, size, mode="bilinear", align_corners=False)`` as ``R_h @ x @ R_w^T``."""
    in_h, in_w = hidden_states.shape[-2], hidden_states.shape[-1]
    out_h, out_w = size[0], size[1]
    static = all(isinstance(value, int) for value in (in_h, in_w, out_h, out_w))
    if static and (in_h, in_w) == (out_h, out_w):
        return hidden_states  # scale 1: torch's bilinear is the identity
    if static:
        rows = _constant(bilinear_matrix(in_h, out_h), hidden_states)
        cols = _constant(bilinear_matrix(in_w, out_w), hidden_states)
    else:
        rows = _symbolic_bilinear_matrix(in_h, out_h, hidden_states)
        cols = _symbolic_bilinear_matrix(in_w, out_w, hidden_states)
    return torch.matmul(torch.matmul(rows, hidden_states), cols.transpose(0, 1))


# ----------------------------------------------------------------------------- modules
class ExactAdaptiveAvgPool2d(nn.Module):
    """``nn.AdaptiveAvgPool2d(output_size)`` as two matrix products (exact for uneven bins)."""

    def __init__(self, output_size: int | tuple[int, int]) -> None:
        super().__init__()
        out = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
        if any(size is None for size in out):
            raise UnsupportedCheckpointError(
                f"adaptive pooling with a None output size ({output_size}) is not supported; "
                "BEiT's pyramid pooling uses integer pool_scales such as (1, 2, 3, 6)"
            )
        self.output_size = (int(out[0]), int(out[1]))

    def _matrix(self, in_size, out_size: int, like: torch.Tensor) -> torch.Tensor:
        if isinstance(in_size, int):
            return _constant(adaptive_pool_matrix(in_size, out_size), like)
        return _symbolic_pool_matrix(in_size, out_size, like)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        height, width = hidden_states.shape[-2], hidden_states.shape[-1]
        rows = self._matrix(height, self.output_size[0], hidden_states)
        cols = self._matrix(width, self.output_size[1], hidden_states)
        return torch.matmul(torch.matmul(rows, hidden_states), cols.transpose(0, 1))

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class MatrixPyramidPoolingBlock(nn.Module):
    """``BeitPyramidPoolingBlock`` with exact matrix pooling and matrix bilinear upsampling."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.pooling = ExactAdaptiveAvgPool2d(block.pooling.output_size)
        self.conv = block.conv

    def forward(self, input: torch.Tensor, size) -> torch.Tensor:
        return resize_bilinear(self.conv(self.pooling(input)), size)


class MatrixUperHead(nn.Module):
    """``BeitUperHead`` (transformers 5.23) with every bilinear interpolation as matrix products."""

    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.classifier, self.psp_modules, self.psp_bottleneck = head.classifier, head.psp_modules, head.psp_bottleneck
        self.lateral_convs, self.fpn_convs = head.lateral_convs, head.fpn_convs
        self.fpn_bottleneck = head.fpn_bottleneck
        self.psp_modules.blocks = nn.ModuleList(MatrixPyramidPoolingBlock(block) for block in self.psp_modules.blocks)

    def psp_forward(self, hidden_states: list[torch.Tensor]) -> torch.Tensor:
        hidden_state = hidden_states[-1]
        size = hidden_state.shape[2:]
        pooled = [block(hidden_state, size=size) for block in self.psp_modules.blocks]
        return self.psp_bottleneck(torch.cat([hidden_state, *pooled], dim=1))

    def forward(self, encoder_hidden_states: list[torch.Tensor]) -> torch.Tensor:
        # one lateral conv per encoder level but the last (the PSP module takes that one), as in UperNetHead
        laterals = [conv(state) for conv, state in zip(self.lateral_convs, encoder_hidden_states, strict=False)]
        laterals.append(self.psp_forward(encoder_hidden_states))
        levels = len(laterals)
        for i in range(levels - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + resize_bilinear(laterals[i], laterals[i - 1].shape[2:])
        fpn_outs = [self.fpn_convs[i](laterals[i]) for i in range(levels - 1)]
        fpn_outs.append(laterals[-1])
        for i in range(levels - 1, 0, -1):
            fpn_outs[i] = resize_bilinear(fpn_outs[i], fpn_outs[0].shape[2:])
        return self.classifier(self.fpn_bottleneck(torch.cat(fpn_outs, dim=1)))


# ----------------------------------------------------------------------------- entry point
def _check_segmentation_model(model: nn.Module) -> None:
    for attribute in ("beit", "fpn", "decode_head", "config"):
        if not hasattr(model, attribute):
            raise UnsupportedCheckpointError(
                f"expected a transformers BeitForSemanticSegmentation (with .{attribute}), got "
                f"{type(model).__name__}; load the checkpoint with BeitForSemanticSegmentation or pass --task"
            )
    head = model.decode_head
    if type(head).__name__ != "BeitUperHead" or not hasattr(head.psp_modules, "blocks"):
        raise UnsupportedCheckpointError(
            f"expected transformers' BeitUperHead as decode_head, got {type(head).__name__}; "
            "beit-deploy is checked against transformers 5.23"
        )
    pools = [block.pooling for block in head.psp_modules.blocks]
    if not all(isinstance(pool, nn.AdaptiveAvgPool2d) for pool in pools) or len(pools) != len(model.config.pool_scales):
        raise UnsupportedCheckpointError(
            f"expected one nn.AdaptiveAvgPool2d per pool scale {list(model.config.pool_scales)} in the pyramid "
            "pooling module; beit-deploy is checked against transformers 5.23"
        )


def unused_trailing_layers(model: nn.Module) -> int:
    """How many final encoder layers no feature map reads.

    transformers 5.23 takes feature map ``i`` from ``hidden_states[out_indices[i] - 1]`` (index 0 is the
    patch embedding, so out index 0 reads ``hidden_states[-1]``, the last layer). With every out index
    >= 1 the layers after ``max(out_indices) - 1`` feed nothing: the ADE20k checkpoints' [3, 5, 7, 11]
    read hidden states 2, 4, 6, 10 of 12 layers.
    """
    out_indices = list(model.config.out_indices)
    layers = len(model.beit.layers)
    if min(out_indices) < 1:  # index 0 (or a negative one) counts from the end: every layer is needed
        return 0
    return max(layers - (max(out_indices) - 1), 0)


def prepare_segmentation_model(model: nn.Module, *, keep_layers: int | None = None) -> nn.Module:
    """Make ``model`` exact and exportable, in place; returns ``model`` in eval mode.

    Drops the auxiliary head, the encoder layers no feature map reads (see ``unused_trailing_layers``;
    hidden-state indices are unchanged by this) and the final LayerNorm (it only makes
    ``last_hidden_state``, which segmentation does not output), and makes the UperNet head Resize-free
    and exact. ``out_indices`` stay as the checkpoint has them and the model's own forward maps them
    onto hidden states, so the export follows transformers by construction. ``keep_layers`` keeps that many
    encoder layers instead (an export with the ``hidden_states`` / ``attentions`` outputs needs more of them).
    """
    _check_segmentation_model(model)
    model.auxiliary_head = None
    unused = unused_trailing_layers(model) if keep_layers is None else len(model.beit.layers) - keep_layers
    if unused:
        model.beit.layers = model.beit.layers[: len(model.beit.layers) - unused]
    model.beit.layernorm = nn.Identity()
    model.decode_head = MatrixUperHead(model.decode_head)
    return model.eval()
