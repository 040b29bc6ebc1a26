"""Results that hold numpy arrays compare by value (``==``, ``in``) instead of raising, and are not hashable."""

from __future__ import annotations

import numpy as np
import pytest

from beit_runtime import Features, SegmentationResult

NAMES = {0: "sky", 1: "tree"}


def _segmentation(labels=((0, 1), (1, 1)), scores=None, names=NAMES) -> SegmentationResult:
    return SegmentationResult(np.array(labels, np.int32), None if scores is None else np.array(scores, np.float32),
                              names)


def _features(pooled=(1.0, 2.0)) -> Features:
    return Features(pooled=np.array(pooled, np.float32), patch_tokens=np.ones((4, 2), np.float32),
                    cls_token=np.zeros(2, np.float32))


def test_segmentation_results_compare_by_value():
    result = _segmentation()
    assert result == _segmentation()
    assert result in [_segmentation(labels=((1, 1), (1, 1))), _segmentation()]
    assert result != _segmentation(labels=((0, 1), (1, 0)))
    assert result != _segmentation(labels=((0, 1, 1), (1, 1, 1)))  # another shape: unequal, no broadcasting
    assert result != _segmentation(names={0: "sky", 1: "grass"})
    assert result not in [_segmentation(labels=((1, 1), (1, 1)))]
    assert result != "not a result"


def test_segmentation_scores_take_part():
    scores = np.zeros((2, 2, 2))
    with_scores = _segmentation(scores=scores)
    assert with_scores == _segmentation(scores=scores)
    assert with_scores != _segmentation()  # scores against None
    assert _segmentation() != with_scores
    assert with_scores != _segmentation(scores=scores + 1)


def test_features_compare_by_value():
    features = _features()
    assert features == _features()
    assert features in [_features((0.0, 0.0)), _features()]
    assert features != _features((1.0, 3.0))
    assert features != _features((1.0, 2.0, 3.0))
    assert features != object()


@pytest.mark.parametrize("result", [_segmentation(), _features()], ids=["SegmentationResult", "Features"])
def test_array_results_are_not_hashable(result):
    with pytest.raises(TypeError, match="unhashable"):
        hash(result)
    with pytest.raises(TypeError, match="unhashable"):
        _ = {result}
