"""benchmarks.harness.serving: the classes a serving run compares come from the task registry."""

from __future__ import annotations

import pytest

from beit_runtime.errors import InputError
from benchmarks.harness.serving import served_classes


def test_served_classes_from_the_registry():
    assert served_classes("image-classification") == ("Classifier", "RemoteClassifier")
    assert served_classes("semantic-segmentation") == ("Segmenter", "RemoteSegmenter")
    assert served_classes("backbone") == ("FeatureExtractor", "RemoteFeatureExtractor")


def test_engine_only_task_is_refused_naming_the_served_ones():
    with pytest.raises(InputError, match=r"engine-only.*image-classification"):
        served_classes("masked-image-modeling")
