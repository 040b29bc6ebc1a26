"""``Classifier``: images -> top-k (label, id, score) from an image-classification artifact; the score function
(softmax, sigmoid or none) is the manifest's, as transformers' image-classification pipeline chose it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import overload

import numpy as np

from .image_types import ImageList, Images, ImageSource, ImageT
from .layer_outputs import LayerOutputs
from .options import positive_int
from .tasks import SCORE_FUNCTIONS


@dataclass(frozen=True)
class Prediction:
    """One class prediction: its label, class id and score (softmax probability, or per-class sigmoid for a
    multi-label or single-logit classifier, or the logit itself for regression: ``Classifier.score_function``)."""

    label: str
    id: int
    score: float


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float32 (max-subtracted), as ``torch.softmax(logits, -1)`` computes it."""
    logits = np.asarray(logits, dtype=np.float32)
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probabilities: np.ndarray = shifted / shifted.sum(axis=-1, keepdims=True)
    return probabilities


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Element-wise logistic in float32, as ``torch.sigmoid`` computes it (no overflow for large |logits|)."""
    logits = np.asarray(logits, dtype=np.float32)
    exp = np.exp(-np.abs(logits))
    probabilities: np.ndarray = np.where(logits >= 0, 1 / (1 + exp), exp / (1 + exp)).astype(np.float32)
    return probabilities


def scores(logits: np.ndarray, function: str) -> np.ndarray:
    """(N, C) logits -> (N, C) scores by ``function`` (a manifest's ``postprocessing.score_function``)."""
    if function == "softmax":
        return softmax(logits)
    if function == "sigmoid":
        return sigmoid(logits)
    if function == "none":
        return np.asarray(logits, dtype=np.float32)
    raise ValueError(f"unknown score function {function!r}: expected one of {', '.join(SCORE_FUNCTIONS)}")


class Classifier(LayerOutputs):
    """Classify images with an exported image-classification artifact.

    ``classify(image)`` returns a list of ``Prediction`` (best first); ``classify([images])`` returns one
    such list per image. Images may be paths, encoded bytes, open binary files, numpy arrays or PIL images (see
    ``beit_runtime.images``; ``beit_runtime.image_types`` names their types: a numpy array may be one image
    or a 4-D batch, so type checkers see either result for it); a list or iterator is decoded ``batch_size``
    images at a time. Artifacts exported with ``--outputs
    hidden_states,attentions`` also answer ``hidden_states``, ``attentions`` and ``attention_maps``
    (``beit_runtime.layer_outputs``).
    """

    task = "image-classification"

    @property
    def score_function(self) -> str:
        """How logits become scores: "softmax", "sigmoid" (multi-label or one logit) or "none" (regression)."""
        return self.manifest.postprocessing.score_function

    def scores(self, logits: np.ndarray) -> np.ndarray:
        """(N, num_labels) logits -> the scores ``classify`` ranks and reports (``score_function``)."""
        return scores(logits, self.score_function)

    def logits(self, images: Images, *, channel_order: str = "rgb") -> np.ndarray:
        """Raw logits, (N, num_labels) for a list, (num_labels,) for one image."""
        outputs, single = self.run_decoded(images, channel_order=channel_order, outputs=("logits",))
        logits = outputs["logits"].astype(np.float32, copy=False)
        return logits[0] if single else logits

    @overload
    def classify(self, images: ImageSource, *, top_k: int = 5, channel_order: str = "rgb") -> list[Prediction]: ...
    @overload
    def classify(self, images: ImageList, *, top_k: int = 5, channel_order: str = "rgb") -> list[list[Prediction]]: ...
    @overload
    def classify(self, images: list[ImageT], *, top_k: int = 5,
                 channel_order: str = "rgb") -> list[list[Prediction]]: ...
    @overload
    def classify(self, images: np.ndarray, *, top_k: int = 5,
                 channel_order: str = "rgb") -> list[Prediction] | list[list[Prediction]]: ...

    def classify(self, images: Images, *, top_k: int = 5,
                 channel_order: str = "rgb") -> list[Prediction] | list[list[Prediction]]:
        """Top ``top_k`` predictions, best first: a list for one image, one such list per image of a list."""
        top_k = positive_int("top_k", top_k)
        outputs, single = self.run_decoded(images, channel_order=channel_order, outputs=("logits",))
        rows = self.scores(outputs["logits"])
        results = [self._top(row, top_k) for row in rows]
        return results[0] if single else results

    __call__ = classify

    def _top(self, row: np.ndarray, top_k: int) -> list[Prediction]:
        return top_predictions(row, top_k, self.labels)


def top_predictions(probabilities: np.ndarray, top_k: int, labels: Mapping[int, str]) -> list[Prediction]:
    """The ``top_k`` best classes of one row of scores, best first (ties: lower id first)."""
    order = np.argsort(-probabilities, kind="stable")[: min(top_k, probabilities.shape[0])]
    return [Prediction(label=labels.get(int(i), f"LABEL_{int(i)}"), id=int(i), score=float(probabilities[i]))
            for i in order]
