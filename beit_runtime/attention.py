"""Attention maps from an artifact's ``attentions`` output, and the sizes of the optional outputs.

``cls_attention_maps(attentions, ...)`` turns one image's (heads, tokens, tokens) attention weights into
the CLS token's attention to each patch, per head, at the image's own size: the figures of the DINO
paper (Caron et al. 2021), where self-supervised ViTs segment objects through this row without being
trained to. Each patch is one block of the map (nearest upsampling by the patch size, as the paper's
code does), placed where the patch came from: the preprocessing's centre crop and resize are undone, so
the map lies over the photo; parts of the photo the model never saw (outside a centre crop, the
remainder below whole patches) are 0.

``output_bytes`` / ``check_fits`` are the size guard: an attentions output holds layers x heads x
tokens^2 floats per image (1.5 GB at 640 for 12 layers and 12 heads), so a call that would not fit in
the memory available (``available_memory``: the host's, or a container's cgroup headroom where that is smaller)
is refused before it runs, with what to change, instead of driving the machine into swap or the process into an
OOM kill. The memory the attention takes while it runs, outputs or not, is guarded by ``attention_memory``.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from .available_memory import available_memory_bytes as available_memory_bytes  # the guard's source; re-exported
from .errors import InputError, OutputTooLargeError
from .preprocess import Preprocessor

FLOAT32_BYTES = 4
MEMORY_SHARE = 0.5  # refuse outputs larger than this share of the memory available now


def output_bytes(names: Iterable[str], *, tokens: int, heads: int, hidden: int, num_layers: int,
                 attention_layers: int) -> int:
    """fp32 bytes of the optional outputs ``names`` for one image of ``tokens`` tokens (CLS included)."""
    total = 0
    for name in names:
        if name == "hidden_states":
            total += (num_layers + 1) * tokens * hidden * FLOAT32_BYTES
        elif name == "attentions":
            total += attention_layers * heads * tokens * tokens * FLOAT32_BYTES
    return total


def check_fits(needed: int, *, what: str, fix: str, available: int | None = None) -> None:
    """OutputTooLargeError when ``needed`` bytes exceed ``MEMORY_SHARE`` of the memory available."""
    available = available_memory_bytes() if available is None else available
    if needed > MEMORY_SHARE * available:
        raise OutputTooLargeError(
            f"{what} would take {needed / 2**20:,.0f} MiB, more than half of the {available / 2**20:,.0f} MiB of "
            f"memory available; {fix}"
        )


def patch_grid(preprocessor: Preprocessor, image_size: tuple[int, int], patch_size: int) -> tuple[int, int]:
    """(rows, columns) of patches the model sees for an image of ``image_size`` (height, width)."""
    height, width = preprocessor.output_size(*image_size)
    return height // patch_size, width // patch_size


def cls_attention_maps(attentions: np.ndarray, *, preprocessor: Preprocessor, image_size: tuple[int, int],
                       patch_size: int) -> np.ndarray:
    """(heads, H, W) float32: the CLS token's attention to each patch, per head, over an H x W image.

    ``attentions`` is one layer of one image, (heads, tokens, tokens) with the CLS token first.
    """
    heads, tokens = attentions.shape[0], attentions.shape[-1]
    rows, columns = patch_grid(preprocessor, image_size, patch_size)
    if rows * columns + 1 != tokens:
        raise InputError(f"the attentions have {tokens} tokens, but an image of {image_size[0]}x{image_size[1]} "
                         f"makes {rows}x{columns} patches + CLS = {rows * columns + 1}; pass the image they came from")
    grid = np.asarray(attentions[:, 0, 1:], dtype=np.float32).reshape(heads, rows, columns)
    seen = np.repeat(np.repeat(grid, patch_size, axis=1), patch_size, axis=2)  # the tensor's whole patches
    return np.stack([_onto_image(plane, preprocessor, image_size) for plane in seen])


def _onto_image(plane: np.ndarray, preprocessor: Preprocessor, image_size: tuple[int, int]) -> np.ndarray:
    """A map over the model's input tensor -> the same map over the original image (crop and resize undone)."""
    resized = preprocessor.resized_size(*image_size)
    out_height, out_width = preprocessor.output_size(*image_size)
    canvas = np.zeros(resized, dtype=np.float32)
    top, left = (resized[0] - out_height) // 2, (resized[1] - out_width) // 2  # centre crop (none: 0, 0)
    source = np.zeros((out_height, out_width), dtype=np.float32)
    source[: plane.shape[0], : plane.shape[1]] = plane
    rows = slice(max(top, 0), min(top + out_height, resized[0]))
    cols = slice(max(left, 0), min(left + out_width, resized[1]))
    canvas[rows, cols] = source[rows.start - top : rows.stop - top, cols.start - left : cols.stop - left]
    if canvas.shape == tuple(image_size):
        return canvas
    return cv2.resize(canvas, (image_size[1], image_size[0]), interpolation=cv2.INTER_NEAREST)
