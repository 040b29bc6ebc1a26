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
- each pass is a banded matrix product along axis 0 of a 2-D view (the image is transposed with
  ``cv2.transpose`` for the horizontal pass): output positions are split into blocks, each block
  is a small dense float64 GEMM over the input rows it touches. Weights are Pillow's fixed-point
  integers times 2**-22, so every product and partial sum is an exact float64 and the result is
  bit-identical to Pillow's. Coefficients and blocks are cached per (in_size, out_size, filter).
"""

from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np

from .errors import ImageFormatError, InputError

PRECISION_BITS = 32 - 8 - 2
_HALF_STEP = 2.0 ** -(PRECISION_BITS + 1)
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


def _block_length(scale: float) -> int:
    """Outputs per GEMM block: 4 when downscaling (measured best: fewer zeros multiplied, still few calls),
    more when upscaling, where a block of outputs spans few input rows."""
    return 4 if scale >= 1.0 else int(min(32, max(4, round(4 / scale))))


@lru_cache(maxsize=512)
def banded_weights(in_size: int, out_size: int, resample: str) -> tuple[tuple[int, int, int, int, np.ndarray], ...]:
    """GEMM blocks ``(o0, o1, lo, hi, W)``: outputs o0:o1 = W @ inputs lo:hi, with W Pillow's fixed-point
    integers times 2**-22 in float64 (every product and partial sum of 8-bit values is then exact)."""
    xmin, count, fixed = pillow_coefficients(in_size, out_size, resample)
    step = _block_length(in_size / out_size)
    blocks = []
    for o0 in range(0, out_size, step):
        o1 = min(o0 + step, out_size)
        lo, hi = int(xmin[o0:o1].min()), int((xmin[o0:o1] + count[o0:o1]).max())
        dense = np.zeros((o1 - o0, hi - lo), dtype=np.float64)
        for row, out in enumerate(range(o0, o1)):
            dense[row, xmin[out] - lo : xmin[out] - lo + count[out]] = fixed[out, : count[out]]
        dense *= 2.0**-PRECISION_BITS
        dense.setflags(write=False)
        blocks.append((o0, o1, lo, hi, dense))
    return tuple(blocks)


def _resample_rows(rows: np.ndarray, out_size: int, resample: str) -> np.ndarray:
    """One Pillow pass along axis 0 of a 2-D uint8 array: (in_size, N) -> (out_size, N) uint8."""
    blocks = banded_weights(rows.shape[0], out_size, resample)
    span = max(hi - lo for _, _, lo, hi, _ in blocks)
    values = np.empty((span, rows.shape[1]), dtype=np.float64)  # one block of input rows at a time
    out = np.empty((out_size, rows.shape[1]), dtype=np.float64)
    for o0, o1, lo, hi, dense in blocks:
        np.copyto(values[: hi - lo], rows[lo:hi])
        np.matmul(dense, values[: hi - lo], out=out[o0:o1])
    # Pillow: clip8((sum + 2**21) >> 22) == clip(floor(x + 0.5)) for x = sum * 2**-22. OpenCV's saturating
    # cast rounds half to even; x is a multiple of 2**-22, so x + 2**-23 is never a tie and rounds the
    # same way floor(x + 0.5) does: one pass, straight to uint8.
    return cv2.add(out, _HALF_STEP, dtype=cv2.CV_8U)


def _swap(image: np.ndarray) -> np.ndarray:
    """(A, B, C) uint8 -> C-contiguous (B, A, C); OpenCV's transpose for up to 4 channels."""
    if image.shape[2] <= 4:
        swapped = cv2.transpose(np.ascontiguousarray(image))
        return swapped.reshape(image.shape[1], image.shape[0], image.shape[2])
    return np.ascontiguousarray(image.transpose(1, 0, 2))


def _pass(image: np.ndarray, out_size: int, resample: str) -> np.ndarray:
    """Resample axis 0 of an (A, B, C) uint8 array."""
    rows = np.ascontiguousarray(image).reshape(image.shape[0], -1)
    return _resample_rows(rows, out_size, resample).reshape(out_size, image.shape[1], image.shape[2])


@lru_cache(maxsize=512)
def nearest_indices(in_size: int, out_size: int) -> np.ndarray:
    """Source index per output position for Pillow's NEAREST (``ImagingScaleAffine``)."""
    step = float(in_size) / out_size
    positions = np.full(out_size, step, dtype=np.float64)
    positions[0] = step * 0.5
    positions = np.add.accumulate(positions)  # Pillow accumulates ``xo += a[0]``
    return np.clip(positions.astype(np.int64), 0, in_size - 1)


def _check_request(image: np.ndarray, height: int, width: int, resample: str) -> None:
    if resample not in RESAMPLE_FILTERS:
        raise InputError(f"resample must be one of {RESAMPLE_FILTERS}, got {resample!r}")
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in (height, width)):
        raise InputError(f"resize target must be positive integers, got height={height!r}, width={width!r}")
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or min(image.shape) <= 0:
        described = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ImageFormatError(f"expected a non-empty (height, width, channels) uint8 array to resize, got {described}")


def resize_hwc(image: np.ndarray, height: int, width: int, *, resample: str = "bilinear") -> np.ndarray:
    """Resize an (H, W, C) uint8 array exactly as ``PIL.Image.resize((width, height), resample)`` would."""
    _check_request(image, height, width, resample)
    in_height, in_width = image.shape[:2]
    if resample == "nearest":
        return image[nearest_indices(in_height, height)[:, None], nearest_indices(in_width, width)[None, :]]
    out = image
    if vertical_first(in_height, in_width, height, width):
        out = _pass(out, height, resample) if height != in_height else out
        out = _swap(_pass(_swap(out), width, resample)) if width != in_width else out
    else:
        out = _swap(_pass(_swap(out), width, resample)) if width != in_width else out
        out = _pass(out, height, resample) if height != in_height else out
    return out if out is not image else out.copy()


def vertical_first(in_height: int, in_width: int, out_height: int, out_width: int) -> bool:
    """Pillow >= 13 (python-pillow/Pillow#9549) runs the vertical pass first when the height shrinks
    by more than twice as many pixels as the width does; the 8-bit rounding between passes makes the
    order visible in the output."""
    return in_height > out_height and (in_height - out_height) > (in_width - out_width) * 2


def resize_image(image: np.ndarray, height: int, width: int, *, resample: str = "bilinear") -> np.ndarray:
    """Resize an HxWxC (or HxW) uint8 image like Pillow; returns uint8 of the same layout."""
    if not isinstance(image, np.ndarray) or image.ndim != 2:
        return resize_hwc(image, height, width, resample=resample)
    return resize_hwc(image[:, :, None], height, width, resample=resample)[:, :, 0]
