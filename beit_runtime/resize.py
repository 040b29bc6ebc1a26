"""Pillow-exact image resizing in numpy: a deliberate, hand-written port of Pillow's resampling.

Why a port: the checkpoints' Hugging Face image processors (the PIL backend, which is the numerical
reference) resize with ``PIL.Image.resize``. Pillow's bilinear/bicubic filters are *antialiased*
when downscaling (the filter support grows with the downscale factor) and work in 8-bit fixed
point; ``cv2.resize`` (INTER_LINEAR / INTER_CUBIC / INTER_AREA) is a different function and moves
pixels by several 8-bit levels. The runtime must not depend on Pillow or torch, so this module
reproduces ``libImaging/Resample.c`` (``precompute_coeffs`` + ``normalize_coeffs_8bpc`` +
``ImagingResample{Horizontal,Vertical}_8bpc``) and the NEAREST path of ``ImagingScaleAffine``:

- coefficients are computed exactly as Pillow does (float64, same operation order, the same
  truncations), then turned into Pillow's 22-bit fixed-point integers;
- the image is resampled in two separable passes, each rounded (``(sum + 2**21) >> 22``) and
  clipped to 0..255 as Pillow's uint8 path does, horizontal first unless the height shrinks much
  more than the width (Pillow >= 13, see ``vertical_first``);
- each pass is a banded matrix product: output positions are split into blocks, each block is a
  small dense float64 GEMM over the input span it touches. Weights are Pillow's fixed-point
  integers times 2**-22, so every product and partial sum is an exact float64: the result is
  bit-identical to Pillow's. Coefficients and blocks are cached per (in_size, out_size, filter).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from .errors import ImageFormatError, InputError

PRECISION_BITS = 32 - 8 - 2
RESAMPLE_FILTERS = ("nearest", "bilinear", "bicubic")
_SUPPORT = {"bilinear": 1.0, "bicubic": 2.0}


def _bilinear(x: np.ndarray) -> np.ndarray:
    x = np.abs(x)
    return np.where(x < 1.0, 1.0 - x, 0.0)


def _bicubic(x: np.ndarray) -> np.ndarray:
    a = -0.5
    x = np.abs(x)
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * a
    return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0))


_FILTERS = {"bilinear": _bilinear, "bicubic": _bicubic}


@lru_cache(maxsize=512)
def pillow_coefficients(in_size: int, out_size: int, resample: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pillow's ``precompute_coeffs`` + ``normalize_coeffs_8bpc`` for one axis.

    Returns ``(xmin, count, kk)``: first input index and tap count per output position, and the
    fixed-point integer weights, shape (out_size, ksize), zero beyond ``count``.
    """
    scale = float(in_size) / out_size  # Pillow: (double)(in1 - in0) / outSize with in0=0.0f, in1=(float)in
    filterscale = max(scale, 1.0)
    support = _SUPPORT[resample] * filterscale
    ksize = int(math.ceil(support)) * 2 + 1
    center = (np.arange(out_size, dtype=np.float64) + 0.5) * scale
    xmin = np.maximum(np.trunc(center - support + 0.5), 0).astype(np.int64)
    xmax = np.minimum(np.trunc(center + support + 0.5).astype(np.int64), in_size)
    count = xmax - xmin
    taps = np.arange(ksize, dtype=np.int64)
    positions = ((taps[None, :] + xmin[:, None]) - center[:, None] + 0.5) * (1.0 / filterscale)
    weights = np.where(taps[None, :] < count[:, None], _FILTERS[resample](positions), 0.0)
    total = np.zeros(out_size, dtype=np.float64)
    for tap in range(ksize):  # sequential sum, as Pillow's loop does
        total += weights[:, tap]
    weights = np.divide(weights, total[:, None], out=weights.copy(), where=total[:, None] != 0.0)
    scaled = weights * (1 << PRECISION_BITS)
    fixed = np.where(weights < 0, np.trunc(-0.5 + scaled), np.trunc(0.5 + scaled))
    return xmin, count, fixed.astype(np.int64)


def _block_length(scale: float, resample: str) -> int:
    return int(min(64, max(8, round(4 * _SUPPORT[resample] / scale))))


@lru_cache(maxsize=512)
def banded_weights(in_size: int, out_size: int, resample: str) -> tuple[tuple[int, int, int, int, np.ndarray], ...]:
    """Blocks ``(o0, o1, lo, hi, W)``: outputs o0:o1 = W (o1-o0, hi-lo) @ inputs lo:hi (float64 weights)."""
    xmin, count, fixed = pillow_coefficients(in_size, out_size, resample)
    step = _block_length(in_size / out_size, resample)
    blocks = []
    for o0 in range(0, out_size, step):
        o1 = min(o0 + step, out_size)
        lo = int(xmin[o0:o1].min())
        hi = int((xmin[o0:o1] + count[o0:o1]).max())
        dense = np.zeros((o1 - o0, hi - lo), dtype=np.float64)
        for row, out in enumerate(range(o0, o1)):
            start = xmin[out] - lo
            dense[row, start : start + count[out]] = fixed[out, : count[out]]
        dense = dense * 2.0**-PRECISION_BITS
        dense.setflags(write=False)
        blocks.append((o0, o1, lo, hi, dense))
    return tuple(blocks)


def _round_clip(values: np.ndarray) -> np.ndarray:
    np.floor(values + 0.5, out=values)
    return np.clip(values, 0.0, 255.0, out=values)


def _horizontal(planes: np.ndarray, out_width: int, resample: str) -> np.ndarray:
    channels, height, width = planes.shape
    rows = planes.reshape(channels * height, width)
    out = np.empty((channels * height, out_width), dtype=np.float64)
    for o0, o1, lo, hi, dense in banded_weights(width, out_width, resample):
        np.matmul(rows[:, lo:hi], dense.T, out=out[:, o0:o1])
    return _round_clip(out).reshape(channels, height, out_width)


def _vertical(planes: np.ndarray, out_height: int, resample: str) -> np.ndarray:
    channels, height, width = planes.shape
    out = np.empty((channels, out_height, width), dtype=np.float64)
    for o0, o1, lo, hi, dense in banded_weights(height, out_height, resample):
        np.matmul(dense, planes[:, lo:hi, :], out=out[:, o0:o1, :])
    return _round_clip(out)


@lru_cache(maxsize=512)
def nearest_indices(in_size: int, out_size: int) -> np.ndarray:
    """Source index per output position for Pillow's NEAREST (``ImagingScaleAffine``)."""
    step = float(in_size) / out_size
    positions = np.full(out_size, step, dtype=np.float64)
    positions[0] = step * 0.5
    positions = np.add.accumulate(positions)  # Pillow accumulates ``xo += a[0]``
    return np.clip(positions.astype(np.int64), 0, in_size - 1)


def _check_request(shape: tuple[int, ...], height: int, width: int, resample: str) -> None:
    if resample not in RESAMPLE_FILTERS:
        raise InputError(f"resample must be one of {RESAMPLE_FILTERS}, got {resample!r}")
    if int(height) <= 0 or int(width) <= 0:
        raise InputError(f"resize target must be positive, got height={height}, width={width}")
    if len(shape) != 3 or min(shape) <= 0:
        raise ImageFormatError(f"expected a non-empty (channels, height, width) array to resize, got shape {shape}")


def resize_planes(planes: np.ndarray, height: int, width: int, *, resample: str = "bilinear") -> np.ndarray:
    """Resize (C, H, W) 8-bit values (any real dtype) as ``PIL.Image.resize((width, height))`` would.

    Returns float64 (C, height, width) holding integers 0..255 (bit-identical to Pillow's uint8 result).
    """
    _check_request(planes.shape, height, width, resample)
    _, in_height, in_width = planes.shape
    if resample == "nearest":
        rows, cols = nearest_indices(in_height, height), nearest_indices(in_width, width)
        return planes[:, rows[:, None], cols[None, :]].astype(np.float64)
    out = np.asarray(planes, dtype=np.float64)
    if vertical_first(in_height, in_width, height, width):
        out = _vertical(out, height, resample) if height != in_height else out
        return _horizontal(out, width, resample) if width != in_width else out
    if width != in_width:
        out = _horizontal(out, width, resample)
    if height != in_height:
        out = _vertical(out, height, resample)
    return out if out is not planes else out.copy()


def vertical_first(in_height: int, in_width: int, out_height: int, out_width: int) -> bool:
    """Pillow >= 13 (python-pillow/Pillow#9549) runs the vertical pass first when the height shrinks
    by more than twice as many pixels as the width does; the 8-bit rounding between passes makes the
    order visible in the output."""
    return in_height > out_height and (in_height - out_height) > (in_width - out_width) * 2


def resize_image(image: np.ndarray, height: int, width: int, *, resample: str = "bilinear") -> np.ndarray:
    """Resize an HxWxC (or HxW) uint8 image like Pillow; returns uint8 of the same layout."""
    if image.dtype != np.uint8:
        raise ImageFormatError(f"resize_image expects uint8 pixels, got {image.dtype}")
    planes = image[None] if image.ndim == 2 else np.moveaxis(image, -1, 0)
    out = resize_planes(planes, height, width, resample=resample).astype(np.uint8)
    return out[0] if image.ndim == 2 else np.ascontiguousarray(np.moveaxis(out, 0, -1))
