"""One task object used from several threads at once gives the same results as serial calls."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import skimage.data

from beit_runtime import Classifier, FeatureExtractor

THREADS = 4


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    names = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry")
    return [np.ascontiguousarray(getattr(skimage.data, name)()) for name in names]


def _jobs(photos):
    """Mixed single images and lists of different lengths and sizes."""
    return [photos[i % len(photos)] if i % 3 == 0 else photos[i % len(photos):] + photos[: i % 2] for i in range(12)]


def test_classifier_threads_match_serial(beit_classifier_artifact, photos):
    jobs = _jobs(photos)
    with Classifier(beit_classifier_artifact, batch_size=2) as classifier:
        serial = [classifier.logits(job) for job in jobs]
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            parallel = list(pool.map(classifier.logits, jobs * 2))
        top = list(ThreadPoolExecutor(max_workers=THREADS).map(lambda job: classifier(job, top_k=3), jobs))
    for expected, actual in zip(serial * 2, parallel, strict=True):
        np.testing.assert_array_equal(actual, expected)
    assert top == _serial_top(beit_classifier_artifact, jobs)


def _serial_top(artifact, jobs):
    with Classifier(artifact, batch_size=2) as classifier:
        return [classifier(job, top_k=3) for job in jobs]


def test_feature_extractor_threads_match_serial(beit_backbone_artifact, photos):
    jobs = _jobs(photos)
    with FeatureExtractor(beit_backbone_artifact, batch_size=3) as extractor:
        serial = [extractor.extract(job) for job in jobs]
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            parallel = list(pool.map(extractor.extract, jobs))
    for expected, actual in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(actual, expected)
