"""Bilinear and bicubic resizing as interpolation matrices, the way torch computes them.

``F.interpolate(x, size=(oh, ow), mode=..., align_corners=False)`` on an (.., ih, iw) map equals
``rows @ x @ cols.T`` with ``rows = interpolation_matrix(ih, oh)`` and ``cols = ...(iw, ow)``.
The matrices are built from plain arithmetic (Range, Mul, Floor, Equal, Cast...) so that they can
depend on symbolic output sizes in an exported graph: no Resize, no Scatter, no GatherND.

Source indices and weights follow ATen's CPU kernels (UpSample.h) in float32:
``scale = in / out``; ``src = scale * (dst + 0.5) - 0.5`` (clamped at 0 for linear only);
``index = min(floor(src), in - 1)``; ``lambda = clamp(src - index, 0, 1)``; bicubic taps at
``index - 1 .. index + 2`` clamped to the border, Keys' kernel with A = -0.75.

ATen's compiled kernel rounds ``scale * (dst + 0.5) - 0.5`` once (a fused multiply-add); a plain
float32 multiply then subtract differs by an ulp of the source position for about 1 output in 7
(1e-6 in a weight). ``_source_index`` reproduces the single rounding exactly, so bilinear weights
equal torch's bit for bit (tested). The bicubic polynomial is contracted by the compiler too; its
weights here agree with torch's to a few ulps (<= 1.5e-6 absolute, where the far tap cancels).
"""

from __future__ import annotations

import torch

CUBIC_A = -0.75


def _split_high(value: torch.Tensor) -> torch.Tensor:
    """Veltkamp split: the top 12 significand bits of a float32 (the rest is ``value - high``)."""
    scaled = value * 4097.0
    return scaled - (scaled - value)


def _source_index(scale: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """``fma(scale, dst + 0.5, -0.5)`` rounded once, as ATen's compiled kernel computes it.

    ``scale`` splits into 12 + 11 significand bits and ``dst + 0.5`` has at most 12 bits (sizes
    below 4096), so both partial products and ``high_product - 0.5`` are exact in float32 and the
    final addition is the only rounding, the same single rounding as a fused multiply-add.
    """
    high = _split_high(scale)
    low = scale - high
    half_steps = dst + 0.5
    return (high * half_steps - 0.5) + low * half_steps


def _source_positions(in_size: int, out_size, *, clamp_negative: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(index as float (out,), lambda float32 (out,)) as ATen's guard_index_and_lambda computes them."""
    dst = torch.arange(out_size, dtype=torch.float32)
    out_f = torch.full((1,), out_size, dtype=torch.float32)
    scale = torch.full((1,), float(in_size), dtype=torch.float32) / out_f
    src = _source_index(scale, dst)
    if clamp_negative:
        src = torch.clamp(src, min=0.0)
    index = torch.clamp(torch.floor(src), max=float(in_size - 1))
    lam = torch.clamp(src - index, min=0.0, max=1.0)
    return index, lam


def _one_hot_columns(index: torch.Tensor, in_size: int, weight: torch.Tensor) -> torch.Tensor:
    """(out, in) matrix with ``weight[i]`` at column ``index[i]`` of row i (index given as float)."""
    columns = torch.arange(in_size, dtype=torch.float32)
    hit = (columns.unsqueeze(0) == index.unsqueeze(1)).to(torch.float32)
    return hit * weight.unsqueeze(1)


def linear_matrix(in_size: int, out_size) -> torch.Tensor:
    """(out_size, in_size) float32 matrix of torch's bilinear (align_corners=False) along one axis."""
    index, lam1 = _source_positions(in_size, out_size, clamp_negative=True)
    lam0 = 1.0 - lam1
    next_index = torch.clamp(index + 1.0, max=float(in_size - 1))
    return _one_hot_columns(index, in_size, lam0) + _one_hot_columns(next_index, in_size, lam1)


def _cubic_near(x: torch.Tensor) -> torch.Tensor:
    return ((CUBIC_A + 2.0) * x - (CUBIC_A + 3.0)) * x * x + 1.0


def _cubic_far(x: torch.Tensor) -> torch.Tensor:
    return ((CUBIC_A * x - 5.0 * CUBIC_A) * x + 8.0 * CUBIC_A) * x - 4.0 * CUBIC_A


def cubic_matrix(in_size: int, out_size) -> torch.Tensor:
    """(out_size, in_size) float32 matrix of torch's bicubic (align_corners=False) along one axis."""
    index, t = _source_positions(in_size, out_size, clamp_negative=False)
    opposite = 1.0 - t
    weights = (_cubic_far(t + 1.0), _cubic_near(t), _cubic_near(opposite), _cubic_far(opposite + 1.0))
    matrix = None
    for offset, weight in zip((-1.0, 0.0, 1.0, 2.0), weights, strict=True):
        tap = torch.clamp(index + offset, min=0.0, max=float(in_size - 1))
        term = _one_hot_columns(tap, in_size, weight)
        matrix = term if matrix is None else matrix + term
    return matrix


def resize_channels_first(grid: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Resize a (C, H, W) grid with (oh, H) row and (ow, W) column matrices -> (C, oh, ow)."""
    rows, cols = rows.to(grid.dtype), cols.to(grid.dtype)
    return torch.matmul(torch.matmul(rows, grid), cols.transpose(0, 1))
