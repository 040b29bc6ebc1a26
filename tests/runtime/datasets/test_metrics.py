"""Accuracy figures against scikit-learn's independent implementations."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, jaccard_score, top_k_accuracy_score

from beit_runtime.datasets import IGNORE_INDEX, ClassificationScore, SegmentationScore
from beit_runtime.errors import InputError


def test_classification_top1_top5_equal_scikit_learn_over_batches():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(57, 12)).astype(np.float32)
    targets = rng.integers(0, 12, size=57)
    score = ClassificationScore()
    for start in range(0, 57, 10):
        score.add(logits[start:start + 10], targets[start:start + 10])
    figures = score.figures()
    assert figures["top1"] == pytest.approx(accuracy_score(targets, logits.argmax(1)))
    assert figures["top5"] == pytest.approx(top_k_accuracy_score(targets, logits, k=5, labels=range(12)))
    assert figures["agreement"] == 1.0


def test_classification_agreement_counts_equal_top1_with_the_reference():
    logits = np.eye(4, dtype=np.float32)
    score = ClassificationScore()
    score.add(logits, np.arange(4), reference_top1=np.array([0, 1, 3, 3]))
    assert score.figures()["agreement"] == 0.75


def test_segmentation_miou_sums_over_images_and_skips_empty_classes_like_jaccard():
    rng = np.random.default_rng(1)
    predicted = [rng.integers(0, 5, size=(7, 9)) for _ in range(3)]
    targets = [rng.integers(0, 5, size=(7, 9)) for _ in range(3)]
    targets[0][:2] = IGNORE_INDEX
    score = SegmentationScore(num_classes=8)  # classes 5..7 never appear: left out of the mean
    for pred, true in zip(predicted, targets, strict=True):
        score.add(pred, true)
    valid = np.concatenate([t.ravel() for t in targets]) != IGNORE_INDEX
    y_true = np.concatenate([t.ravel() for t in targets])[valid]
    y_pred = np.concatenate([p.ravel() for p in predicted])[valid]
    present = sorted(set(y_true) | set(y_pred))
    figures = score.figures()
    assert figures["miou"] == pytest.approx(jaccard_score(y_true, y_pred, labels=present, average="macro"))
    assert figures["pixel_accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))


def test_segmentation_rejects_class_ids_beyond_the_model_with_the_fix():
    score = SegmentationScore(num_classes=3)
    with pytest.raises(InputError, match="reduce-labels"):
        score.add(np.zeros((2, 2), int), np.full((2, 2), 7))
    with pytest.raises(InputError, match="differ in size"):
        score.add(np.zeros((2, 2), int), np.zeros((3, 2), int))
