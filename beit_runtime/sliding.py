"""Logit resizing as PyTorch does it, and mmseg's sliding-window ("slide") inference.

``resize_bilinear`` equals ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)``
(half-pixel centres, source index clamped at 0, no antialiasing, also when shrinking; cv2.INTER_LINEAR
is not a substitute: it switches to area averaging for 2x reductions). ``upsample_argmax`` is the
numpy twin of the fused "postprocess" graph, computed in row blocks so memory stays bounded.

Slide inference follows mmsegmentation's ``EncoderDecoder.slide_inference``: windows of ``crop`` every
``stride`` pixels (the last window in each direction is shifted back to end at the border), each crop's
logits are upsampled to the crop size, summed into a full-size map and divided by the per-pixel count.
Images smaller than the crop are padded at the bottom/right with 0 after normalisation (mmseg's
``SegDataPreProcessor`` pad value) and the padding is cut away from the averaged logits.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .errors import InputError
from .options import positive_int


def _axis_weights(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices (low, high) and high-side weights of torch's bilinear, align_corners=False."""
    scale = np.float32(in_size) / np.float32(out_size)
    source = scale * (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) - np.float32(0.5)
    source = np.maximum(source, np.float32(0.0))
    low = np.minimum(np.floor(source).astype(np.int64), in_size - 1)
    weight = np.clip(source - low.astype(np.float32), 0.0, 1.0).astype(np.float32)
    high = low + (low < in_size - 1)
    return low, high, weight


def _resize_rows(scores: np.ndarray, rows: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    low, high, weight = rows
    resized: np.ndarray = scores[:, low, :] * (1.0 - weight)[:, None] + scores[:, high, :] * weight[:, None]
    return resized


def _resize_cols(scores: np.ndarray, cols: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    low, high, weight = cols
    resized: np.ndarray = scores[:, :, low] * (1.0 - weight) + scores[:, :, high] * weight
    return resized


def resize_bilinear(scores: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """(C, h, w) float -> (C, H, W) float32 exactly like torch's bilinear, align_corners=False."""
    scores = np.asarray(scores, dtype=np.float32)
    if scores.ndim != 3:
        raise InputError(f"expected (classes, height, width) scores, got shape {scores.shape}")
    height, width = positive_int("target height", int(size[0])), positive_int("target width", int(size[1]))
    rows = _axis_weights(scores.shape[1], height)
    cols = _axis_weights(scores.shape[2], width)
    return _resize_cols(_resize_rows(scores, rows), cols).astype(np.float32, copy=False)


def upsample_argmax(logits: np.ndarray, size: Sequence[int], *, block_rows: int = 64) -> np.ndarray:
    """Bilinear-upsample (C, h, w) logits to ``size`` and take the argmax over classes: (H, W) int32."""
    logits = np.asarray(logits, dtype=np.float32)
    if logits.ndim != 3:
        raise InputError(f"expected (classes, height, width) logits, got shape {logits.shape}")
    height, width = int(size[0]), int(size[1])
    low, high, weight = _axis_weights(logits.shape[1], height)
    cols = _axis_weights(logits.shape[2], width)
    labels = np.empty((height, width), dtype=np.int32)
    for start in range(0, height, block_rows):
        part = slice(start, min(start + block_rows, height))
        rows = _resize_rows(logits, (low[part], high[part], weight[part]))
        labels[part] = np.argmax(_resize_cols(rows, cols), axis=0)
    return labels


def rescale_to_scale(image_rgb: np.ndarray, scale: Sequence[int]) -> np.ndarray:
    """mmseg's ``Resize(scale=(long, short), keep_ratio=True)``: fit inside long x short, cv2 bilinear."""
    long_edge, short_edge = max(scale), min(scale)
    height, width = image_rgb.shape[:2]
    factor = min(long_edge / max(height, width), short_edge / min(height, width))
    new_size = (max(1, int(width * factor + 0.5)), max(1, int(height * factor + 0.5)))  # a thin side keeps 1 pixel
    if new_size == (width, height):
        return image_rgb
    return cv2.resize(image_rgb, new_size, interpolation=cv2.INTER_LINEAR)


def slide_windows(height: int, width: int, *, crop: Sequence[int],
                  stride: Sequence[int]) -> list[tuple[int, int, int, int]]:
    """mmseg's window grid over a (padded) height x width image: (y1, y2, x1, x2) per window."""
    crop_h, crop_w = positive_int("crop height", crop[0]), positive_int("crop width", crop[1])
    stride_h, stride_w = positive_int("stride height", stride[0]), positive_int("stride width", stride[1])
    rows = max(height - crop_h + stride_h - 1, 0) // stride_h + 1
    cols = max(width - crop_w + stride_w - 1, 0) // stride_w + 1
    windows = []
    for row in range(rows):
        for col in range(cols):
            y2, x2 = min(row * stride_h + crop_h, height), min(col * stride_w + crop_w, width)
            windows.append((max(y2 - crop_h, 0), y2, max(x2 - crop_w, 0), x2))
    return windows


def pad_to_crop(pixels: np.ndarray, crop: Sequence[int]) -> np.ndarray:
    """Pad (3, H, W) at the bottom/right with zeros so both sides are at least the crop size."""
    pad_h, pad_w = max(crop[0] - pixels.shape[1], 0), max(crop[1] - pixels.shape[2], 0)
    if pad_h == 0 and pad_w == 0:
        return pixels
    return np.pad(pixels, ((0, 0), (0, pad_h), (0, pad_w)))


def cut_crops(pixels: np.ndarray, windows: Sequence[tuple[int, int, int, int]]) -> np.ndarray:
    """(windows, 3, crop_h, crop_w) float32 crops of a padded (3, H, W) image."""
    return np.stack([pixels[:, y1:y2, x1:x2] for y1, y2, x1, x2 in windows])


def merge_crops(
    crop_logits: np.ndarray,
    windows: Sequence[tuple[int, int, int, int]],
    *,
    padded_size: Sequence[int],
    image_size: Sequence[int],
) -> np.ndarray:
    """Upsample each crop's logits to its window, average overlaps, drop the padding: (C, H, W) float32."""
    classes = crop_logits.shape[1]
    total = np.zeros((classes, padded_size[0], padded_size[1]), dtype=np.float32)
    count = np.zeros((padded_size[0], padded_size[1]), dtype=np.float32)
    for logits, (y1, y2, x1, x2) in zip(crop_logits, windows, strict=True):
        total[:, y1:y2, x1:x2] += resize_bilinear(logits, (y2 - y1, x2 - x1))
        count[y1:y2, x1:x2] += 1.0
    averaged = total / count
    return averaged[:, : image_size[0], : image_size[1]]
