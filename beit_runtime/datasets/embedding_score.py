"""How well a variant's embeddings keep fp32's: the nearest neighbour each image finds, and cosine similarity.

An embedding is used to find similar images, so the figure that matters is whether a variant's embeddings
find the same neighbours as fp32's (a small drift in every coordinate that changes no neighbour costs
nothing). ``EmbeddingScore`` keeps the first ``GALLERY`` images' embeddings (the variant's and the
reference's) as the gallery; every image, gallery images included (against the others), queries it:
- ``agreement``: the share of images whose nearest gallery neighbour by cosine similarity, searched with the
  variant's embeddings, is the reference's nearest (a tie in the reference's similarities counts as the same:
  two copies of one photo are equally near);
- ``cosine``: the mean cosine similarity between each image's variant and reference embedding.
The gallery is bounded, so the state a checkpoint saves after every batch stays small; images after it are
scored as they come. The evaluation order (``evaluation.evaluate.limited``) spreads the gallery over the data.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DatasetError, InputError

GALLERY = 256  # images whose embeddings are kept: the neighbours every image is searched among
TIE = 1e-6  # reference similarities this close are the same distance


def _unit(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float64)
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return (rows / np.where(norms > 0, norms, 1.0)).astype(np.float32)  # kept as float32: as a checkpoint saves it


@dataclass
class EmbeddingScore:
    images: int = 0
    cosine_sum: float = 0.0
    agreeing: int = 0  # among the images after the gallery (the gallery's own are counted by ``figures``)
    gallery: list[np.ndarray] = field(default_factory=list)  # the variant's unit embeddings, one row per image
    reference_gallery: list[np.ndarray] = field(default_factory=list)

    def add(self, embeddings: np.ndarray, reference: np.ndarray) -> None:
        """``embeddings`` and ``reference``: (n, D) pooled embeddings of the same n images."""
        ours, theirs = np.asarray(embeddings), np.asarray(reference)
        if ours.ndim != 2 or ours.shape != theirs.shape:
            raise InputError(f"embeddings of shape {ours.shape} do not match the reference's {theirs.shape}")
        ours, theirs = _unit(ours), _unit(theirs)
        self.images += len(ours)
        self.cosine_sum += float(np.sum(ours.astype(np.float64) * theirs))
        room = max(GALLERY - len(self.gallery), 0)
        self.gallery.extend(ours[:room])
        self.reference_gallery.extend(theirs[:room])
        if len(ours) > room:
            self.agreeing += int(np.sum(self._agree(ours[room:], theirs[room:], own=None)))

    def _agree(self, ours: np.ndarray, theirs: np.ndarray, *, own: np.ndarray | None) -> np.ndarray:
        """Per query, whether its nearest gallery image by ``ours`` is (or ties with) the nearest by ``theirs``;
        ``own``: each query's own gallery index, left out of its search."""
        gallery, reference = np.stack(self.gallery), np.stack(self.reference_gallery)
        similar, reference_similar = ours @ gallery.T, theirs @ reference.T
        if own is not None:
            similar[np.arange(len(own)), own] = -np.inf
            reference_similar[np.arange(len(own)), own] = -np.inf
        chosen = np.argmax(similar, axis=1)
        best = np.max(reference_similar, axis=1)
        agrees: np.ndarray = reference_similar[np.arange(len(chosen)), chosen] >= best - TIE
        return agrees

    def figures(self) -> dict[str, float]:
        """``agreement`` and ``cosine`` (fractions); DatasetError with fewer than 2 images (no neighbour)."""
        if len(self.gallery) < 2:
            raise DatasetError(f"neighbour agreement needs at least 2 readable images, got {self.images}: "
                               "give --data a folder with more images")
        ours, theirs = np.stack(self.gallery), np.stack(self.reference_gallery)
        agreeing = self.agreeing + int(np.sum(self._agree(ours, theirs, own=np.arange(len(ours)))))
        return {"agreement": agreeing / self.images, "cosine": self.cosine_sum / self.images}

    def to_state(self) -> dict[str, Any]:
        """Counts and the gallery (float32 rows, base64), as JSON: a resumed evaluation gives the same figures."""
        return {"images": self.images, "cosine_sum": self.cosine_sum, "agreeing": self.agreeing,
                "gallery": _encoded(self.gallery), "reference_gallery": _encoded(self.reference_gallery)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> EmbeddingScore:
        return cls(images=int(state["images"]), cosine_sum=float(state["cosine_sum"]),
                   agreeing=int(state["agreeing"]), gallery=_decoded(state["gallery"]),
                   reference_gallery=_decoded(state["reference_gallery"]))


def _encoded(rows: list[np.ndarray]) -> dict[str, Any]:
    array = np.stack(rows) if rows else np.zeros((0, 0), np.float32)
    return {"shape": list(array.shape), "float32": base64.b64encode(array.astype("<f4").tobytes()).decode("ascii")}


def _decoded(record: dict[str, Any]) -> list[np.ndarray]:
    array = np.frombuffer(base64.b64decode(record["float32"]), dtype="<f4").reshape(record["shape"])
    return list(array.copy())
