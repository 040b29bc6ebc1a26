"""``Classifier``: images -> top-k (label, id, softmax score) from an image-classification artifact."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import overload

import numpy as np

from .image_types import ImageList, Images, ImageSource, ImageT
from .layer_outputs import LayerOutputs
from .options import positive_int


@dataclass(frozen=True)
class Prediction:
    """One class prediction: its label, class id and softmax probability."""

    label: str
    id: int
    score: float


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float32 (max-subtracted), as ``torch.softmax(logits, -1)`` computes it."""
    logits = np.asarray(logits, dtype=np.float32)
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probabilities: np.ndarray = shifted / shifted.sum(axis=-1, keepdims=True)
    return probabilities


class Classifier(LayerOutputs):
    """Classify images with an exported image-classification artifact.

    ``classify(image)`` returns a list of ``Prediction`` (best first); ``classify([images])`` returns one
    such list per image. Images may be paths, encoded bytes, numpy arrays or PIL images (see
    ``beit_runtime.images``; ``beit_runtime.image_types`` names their types: a numpy array may be one image
    or a 4-D batch, so type checkers see either result for it). Artifacts exported with ``--outputs
    hidden_states,attentions`` also answer ``hidden_states``, ``attentions`` and ``attention_maps``
    (``beit_runtime.layer_outputs``).
    """

    task = "image-classification"

    def logits(self, images: Images, *, channel_order: str = "rgb") -> np.ndarray:
        """Raw logits, (N, num_labels) for a list, (num_labels,) for one image."""
        decoded, single = self.load_images(images, channel_order=channel_order)
        logits = self.run_images(decoded, outputs=("logits",))["logits"].astype(np.float32, copy=False)
        return logits[0] if single else logits

    @overload
    def classify(self, images: ImageList, *, top_k: int = 5, channel_order: str = "rgb") -> list[list[Prediction]]: ...
    @overload
    def classify(self, images: list[ImageT], *, top_k: int = 5,
                 channel_order: str = "rgb") -> list[list[Prediction]]: ...
    @overload
    def classify(self, images: ImageSource, *, top_k: int = 5, channel_order: str = "rgb") -> list[Prediction]: ...
    @overload
    def classify(self, images: np.ndarray, *, top_k: int = 5,
                 channel_order: str = "rgb") -> list[Prediction] | list[list[Prediction]]: ...

    def classify(self, images: Images, *, top_k: int = 5,
                 channel_order: str = "rgb") -> list[Prediction] | list[list[Prediction]]:
        """Top ``top_k`` predictions, best first: a list for one image, one such list per image of a list."""
        top_k = positive_int("top_k", top_k)
        decoded, single = self.load_images(images, channel_order=channel_order)
        probabilities = softmax(self.run_images(decoded, outputs=("logits",))["logits"])
        results = [self._top(row, top_k) for row in probabilities]
        return results[0] if single else results

    __call__ = classify

    def _top(self, probabilities: np.ndarray, top_k: int) -> list[Prediction]:
        return top_predictions(probabilities, top_k, self.labels)


def top_predictions(probabilities: np.ndarray, top_k: int, labels: Mapping[int, str]) -> list[Prediction]:
    """The ``top_k`` best classes of one row of probabilities, best first (ties: lower id first)."""
    order = np.argsort(-probabilities, kind="stable")[: min(top_k, probabilities.shape[0])]
    return [Prediction(label=labels.get(int(i), f"LABEL_{int(i)}"), id=int(i), score=float(probabilities[i]))
            for i in order]
