"""Accuracy figures accumulated over a data set, one batch at a time.

- ``ClassificationScore``: top-1 and top-5 accuracy (fractions), and agreement with a reference
  variant's top-1 (fp32 when comparing reduced precisions).
- ``SegmentationScore``: mIoU and pixel accuracy as `evaluate`'s mean_iou and mmseg compute them:
  intersections and unions summed per class over the whole data set, IoU = I / U for every class whose
  union is not empty, mIoU = the mean of those; pixel accuracy = correct / labelled pixels; pixels
  labelled 255 are ignored. Agreement = fraction of all pixels whose label equals the reference's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError
from .labelled import IGNORE_INDEX, ids_outside


@dataclass
class ClassificationScore:
    images: int = 0
    top1_hits: int = 0
    top5_hits: int = 0
    agreeing: int = 0

    def add(self, logits: np.ndarray, targets: np.ndarray, *, reference_top1: np.ndarray | None = None) -> None:
        """``logits``: (n, classes); ``targets``: (n,) class ids; ``reference_top1``: (n,) the reference's top-1."""
        if logits.ndim != 2 or logits.shape[0] != len(targets):
            raise InputError(f"logits of shape {logits.shape} do not match {len(targets)} targets")
        k = min(5, logits.shape[1])
        top = np.argsort(-logits, axis=1, kind="stable")[:, :k]
        self.images += len(targets)
        self.top1_hits += int(np.sum(top[:, 0] == targets))
        self.top5_hits += int(np.sum(np.any(top == targets[:, None], axis=1)))
        predicted = top[:, 0] if reference_top1 is None else reference_top1
        self.agreeing += int(np.sum(top[:, 0] == predicted))

    def figures(self) -> dict[str, float]:
        count = max(self.images, 1)
        return {"top1": self.top1_hits / count, "top5": self.top5_hits / count, "agreement": self.agreeing / count}

    def to_state(self) -> dict[str, Any]:
        """The counts, as JSON (a resumed evaluation goes on from them)."""
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ClassificationScore:
        return cls(**{name: int(state[name]) for name in ("images", "top1_hits", "top5_hits", "agreeing")})


@dataclass
class SegmentationScore:
    num_classes: int
    intersection: np.ndarray = field(init=False)
    union: np.ndarray = field(init=False)
    correct: int = 0
    labelled: int = 0
    agreeing: int = 0
    pixels: int = 0
    images: int = 0

    def __post_init__(self) -> None:
        self.intersection = np.zeros(self.num_classes, dtype=np.int64)
        self.union = np.zeros(self.num_classes, dtype=np.int64)

    def add(self, predicted: np.ndarray, target: np.ndarray, *, reference: np.ndarray | None = None) -> None:
        """One image: ``predicted`` and ``target`` (H, W) class ids (target 255: ignored)."""
        if predicted.shape != target.shape:
            raise InputError(f"label map {predicted.shape} and mask {target.shape} differ in size")
        valid = target != IGNORE_INDEX
        outside = ids_outside(target, num_classes=self.num_classes)
        if outside.size:
            raise InputError(
                f"mask holds class id(s) {', '.join(str(int(v)) for v in outside[:8])} outside "
                f"0..{self.num_classes - 1} (255 is ignored); check the mask, or reduce its labels "
                "(--reduce-labels) when 0 means 'other'"
            )
        pred, true = predicted[valid].astype(np.int64), target[valid].astype(np.int64)
        hits = pred[pred == true]
        area_hit = np.bincount(hits, minlength=self.num_classes)[: self.num_classes]
        area_pred = np.bincount(pred, minlength=self.num_classes)[: self.num_classes]
        area_true = np.bincount(true, minlength=self.num_classes)[: self.num_classes]
        self.intersection += area_hit
        self.union += area_pred + area_true - area_hit
        self.correct += int(hits.size)
        self.labelled += int(true.size)
        self.pixels += int(predicted.size)
        self.agreeing += int(predicted.size if reference is None else np.sum(predicted == reference))
        self.images += 1

    def figures(self) -> dict[str, float]:
        present = self.union > 0
        iou = self.intersection[present] / self.union[present]
        return {
            "miou": float(np.mean(iou)) if iou.size else 0.0,
            "pixel_accuracy": self.correct / max(self.labelled, 1),
            "agreement": self.agreeing / max(self.pixels, 1),
        }

    def to_state(self) -> dict[str, Any]:
        """The per-class sums and counts, as JSON (a resumed evaluation goes on from them)."""
        counts = {name: getattr(self, name) for name in _SEGMENTATION_COUNTS}
        return {"num_classes": self.num_classes, "intersection": self.intersection.tolist(),
                "union": self.union.tolist(), **counts}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SegmentationScore:
        score = cls(num_classes=int(state["num_classes"]))
        for name in ("intersection", "union"):
            values = np.asarray(state[name], dtype=np.int64)
            if values.shape != (score.num_classes,):
                raise ValueError(f"{name} holds {values.size} classes, expected {score.num_classes}")
            setattr(score, name, values)
        for name in _SEGMENTATION_COUNTS:
            setattr(score, name, int(state[name]))
        return score


_SEGMENTATION_COUNTS = ("correct", "labelled", "agreeing", "pixels", "images")
