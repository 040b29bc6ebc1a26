"""``EmbeddingScore``: neighbour agreement and cosine similarity of a variant's embeddings against fp32's."""

from __future__ import annotations

import json

import numpy as np
import pytest

from beit_runtime.datasets import EmbeddingScore, embedding_score
from beit_runtime.errors import DatasetError, InputError


def clusters(count: int = 40, dim: int = 16, *, seed: int = 0) -> np.ndarray:
    """Embeddings of ``count`` images in well-separated pairs: each image's nearest neighbour is its pair."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(count // 2, dim)) * 10
    return np.repeat(centres, 2, axis=0) + rng.normal(size=(count, dim)) * 0.1


def scored(embeddings: np.ndarray, reference: np.ndarray, *, batch: int = 8) -> EmbeddingScore:
    score = EmbeddingScore()
    for start in range(0, len(embeddings), batch):
        score.add(embeddings[start:start + batch], reference[start:start + batch])
    return score


def test_the_reference_against_itself_agrees_everywhere():
    reference = clusters()
    figures = scored(reference, reference).figures()
    assert figures["agreement"] == 1.0 and figures["cosine"] == pytest.approx(1.0)


def test_a_small_drift_that_keeps_every_neighbour_costs_no_agreement():
    reference = clusters()
    drifted = reference + np.random.default_rng(1).normal(size=reference.shape) * 0.01
    figures = scored(drifted, reference).figures()
    assert figures["agreement"] == 1.0 and 0.99 < figures["cosine"] < 1.0


def test_embeddings_that_lose_the_neighbours_are_scored_low():
    reference = clusters()
    shuffled = reference[np.random.default_rng(2).permutation(len(reference))]
    figures = scored(shuffled, reference).figures()
    assert figures["agreement"] < 0.3 and figures["cosine"] < 0.5


def test_one_wrong_neighbour_costs_one_image():
    reference = clusters(count=20)
    moved = reference.copy()
    moved[0] = np.full(reference.shape[1], 10.0)  # image 0 leaves its pair (image 1) for a direction of its own
    figures = scored(moved, reference).figures()
    # image 0 finds another neighbour than 1, and image 1 another than 0: two of twenty disagree
    assert figures["agreement"] == pytest.approx(18 / 20)


def test_a_tie_in_the_reference_counts_as_the_same_neighbour():
    photo = np.random.default_rng(3).normal(size=(1, 8))
    reference = np.concatenate([photo, photo, photo, photo + 5.0])  # three copies of one photo: equally near
    variant = reference.copy()
    variant[2] += 1e-3  # image 0 now finds copy 1 rather than copy 2, or the other way: both are nearest
    assert scored(variant, reference, batch=4).figures()["agreement"] == 1.0


def test_images_after_the_gallery_are_searched_in_it(monkeypatch):
    monkeypatch.setattr(embedding_score, "GALLERY", 10)
    reference = clusters(count=40)
    score = scored(reference, reference, batch=3)
    assert len(score.gallery) == 10 and score.images == 40
    shuffled = reference.copy()
    shuffled[30:] = shuffled[30:][::-1]  # the last ten images lose their neighbours in the gallery
    figures = scored(shuffled, reference, batch=3).figures()
    assert figures["agreement"] < 1.0


@pytest.mark.parametrize("stop_after", [1, 3, 5])  # inside the gallery, at its end, after it
def test_a_saved_state_goes_on_to_the_same_figures(monkeypatch, stop_after):
    monkeypatch.setattr(embedding_score, "GALLERY", 24)
    reference = clusters(count=40)
    variant = reference + np.random.default_rng(4).normal(size=reference.shape) * 3.0
    whole = scored(variant, reference).figures()
    first = EmbeddingScore()
    for start in range(0, stop_after * 8, 8):
        first.add(variant[start:start + 8], reference[start:start + 8])
    resumed = EmbeddingScore.from_state(json.loads(json.dumps(first.to_state())))
    for start in range(stop_after * 8, 40, 8):
        resumed.add(variant[start:start + 8], reference[start:start + 8])
    assert resumed.figures() == whole and whole["agreement"] < 1.0


def test_one_image_has_no_neighbour_and_says_so():
    score = scored(np.ones((1, 4)), np.ones((1, 4)))
    with pytest.raises(DatasetError, match="at least 2 readable images, got 1"):
        score.figures()


def test_embeddings_of_another_shape_than_the_reference_are_refused():
    with pytest.raises(InputError, match=r"embeddings of shape \(2, 4\) do not match the reference's \(2, 5\)"):
        EmbeddingScore().add(np.ones((2, 4)), np.ones((2, 5)))
