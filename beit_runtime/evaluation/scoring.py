"""Scoring every variant's outputs on the same batches: per-variant accumulators of ``datasets.metrics``.

``Scorer.run_batch`` calls each open model on one decoded batch, the fp32 ONNX Runtime reference first,
times the call, and adds its outputs to the variant's score against the batch's targets (class ids or
masks, read once), or, unlabelled, against the reference's own decisions. ``state``/``restore`` turn the
accumulators into JSON and back, so a resumed evaluation goes on from a checkpoint.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..datasets import ClassificationScore, Sample, SegmentationScore, read_mask
from ..errors import DatasetError
from .variants import REFERENCE, Variant

if TYPE_CHECKING:
    from .evaluate import VariantResult

SEGMENTATION = "semantic-segmentation"
CLASSIFICATION = "image-classification"


class Scorer:
    """Per-variant accumulators; runs one decoded batch through every open model."""

    def __init__(self, task_name: str, *, num_classes: int, labelled: bool, reduce_labels: bool) -> None:
        self.task_name = task_name
        self.labelled = labelled
        self.num_classes = num_classes
        self.reduce_labels = reduce_labels
        self.scores: dict[Variant, Any] = {}

    def _score(self, variant: Variant) -> Any:
        if variant not in self.scores:
            self.scores[variant] = (ClassificationScore() if self.task_name == CLASSIFICATION
                                    else SegmentationScore(num_classes=self.num_classes))
        return self.scores[variant]

    def targets(self, batch: list[Sample], images: list[np.ndarray]) -> Any:
        """Class ids (classification) or the masks of the batch, read once for every variant (None: unlabelled,
        the reference's own decisions are the targets)."""
        if not self.labelled:
            return None
        if self.task_name == CLASSIFICATION:
            return np.array([sample.target for sample in batch])
        return [read_mask(sample, image_size=image.shape[:2], reduce_labels=self.reduce_labels,
                          num_classes=self.num_classes)
                for sample, image in zip(batch, images, strict=True)]

    def check_scored(self, data: str | Path) -> None:
        """DatasetError when labelled masks had no pixel to score (all 255): an mIoU of 0 would mean nothing."""
        if not self.labelled or self.task_name != SEGMENTATION:
            return
        if any(score.labelled for score in self.scores.values()):
            return
        fix = ("--reduce-labels maps 0 to 255: drop it if 0 is a real class" if self.reduce_labels
               else "masks hold class ids 0..N-1 per pixel, 255 only where a pixel is not scored")
        raise DatasetError(f"no pixel of the masks in {data} was scored: every mask pixel is 255, the ignore "
                           f"value; {fix}")

    def run_batch(self, batch: list[Sample], images: list[np.ndarray], *, models: dict[Variant, Any],
                  results: list[VariantResult]) -> None:
        targets = self.targets(batch, images)
        reference = None
        for result in results:
            model = models.get(result.variant)
            if model is None:
                continue
            started = time.perf_counter()
            outputs = model.logits(images) if self.task_name == CLASSIFICATION else [r.labels for r in model(images)]
            result.seconds += time.perf_counter() - started
            result.images += len(images)
            reference = outputs if result.variant == REFERENCE else reference
            truth = targets if targets is not None else self._as_targets(reference)
            self._add(result.variant, outputs, truth, reference)

    def _as_targets(self, reference: Any) -> Any:
        if self.task_name == CLASSIFICATION:
            return np.argmax(reference, axis=1)
        return [np.asarray(labels, np.int64) for labels in reference]

    def _add(self, variant: Variant, outputs: Any, targets: Any, reference: Any) -> None:
        score = self._score(variant)
        if self.task_name == CLASSIFICATION:
            score.add(np.asarray(outputs), targets, reference_top1=np.argmax(reference, axis=1))
            return
        for labels, mask, ref in zip(outputs, targets, reference, strict=True):
            score.add(labels, mask, reference=ref)

    def figures(self, variant: Variant) -> dict[str, float]:
        score = self.scores.get(variant)
        if score is None:
            return {}
        figures: dict[str, float] = score.figures()
        return figures if self.labelled else {"agreement": figures["agreement"]}

    def state(self, variant: Variant) -> dict[str, Any] | None:
        """The variant's accumulators as JSON (None before its first batch)."""
        score = self.scores.get(variant)
        return None if score is None else score.to_state()

    def restore(self, variant: Variant, state: dict[str, Any]) -> None:
        """Go on from accumulators ``state`` saved by an earlier run."""
        kind = ClassificationScore if self.task_name == CLASSIFICATION else SegmentationScore
        self.scores[variant] = kind.from_state(state)
