"""Mean intersection-over-union, accumulated over a data set as mmsegmentation does it."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def confusion_matrix(prediction: np.ndarray, target: np.ndarray, *, num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) int64 counts, rows = target class, columns = predicted class."""
    prediction, target = np.asarray(prediction), np.asarray(target)
    if prediction.shape != target.shape:
        raise ValueError(f"prediction and target must have the same shape, got {prediction.shape} and {target.shape}")
    valid = (target >= 0) & (target < num_classes)
    pairs = target[valid].astype(np.int64) * num_classes + np.clip(prediction[valid], 0, num_classes - 1)
    return np.bincount(pairs.ravel(), minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def iou_per_class(confusion: np.ndarray) -> np.ndarray:
    """IoU of each class from a confusion matrix; NaN for classes absent from both target and prediction."""
    intersection = np.diag(confusion).astype(np.float64)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, intersection / np.maximum(union, 1), np.nan)


def mean_iou(
    predictions: Iterable[np.ndarray], targets: Iterable[np.ndarray], *, num_classes: int
) -> tuple[float, np.ndarray]:
    """(mIoU, per-class IoU) over all pairs; intersections and unions are summed over the set first."""
    total = np.zeros((num_classes, num_classes), dtype=np.int64)
    for prediction, target in zip(predictions, targets, strict=True):
        total += confusion_matrix(prediction, target, num_classes=num_classes)
    per_class = iou_per_class(total)
    return float(np.nanmean(per_class)), per_class
