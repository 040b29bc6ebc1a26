"""Scoring every variant's outputs on the same batches: per-variant accumulators of ``datasets.metrics``.

What differs between tasks is their kind of evaluation (the task registry's ``evaluation``): one small
``TaskScoring`` class per kind, chosen through ``SCORINGS`` (``scoring_for``), reads the data set's samples,
the batch's targets (class ids or masks, read once), calls the task class and adds its outputs to an
accumulator. ``Scorer.run_batch`` calls each open model on one decoded batch, the fp32 ONNX Runtime
reference first, times the call, and adds its outputs to the variant's score against the batch's targets,
or, unlabelled, against the reference's own decisions. ``state``/``restore`` turn the accumulators into
JSON and back, so a resumed evaluation goes on from a checkpoint.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from ..datasets import (
    ClassificationScore,
    EmbeddingScore,
    Sample,
    SegmentationScore,
    classification_samples,
    read_mask,
    segmentation_samples,
    unlabelled_images,
)
from ..errors import DatasetError, InputError
from ..tasks import TASKS, task
from .variants import REFERENCE, Variant

if TYPE_CHECKING:
    from .evaluate import VariantResult


class TaskScoring(ABC):
    """How one kind of evaluation reads its data, calls the task class and scores what it returns."""

    uses_labels = True  # False: the data is any folder of images, scored against the reference alone

    def __init__(self, *, num_classes: int, reduce_labels: bool) -> None:
        self.num_classes = num_classes
        self.reduce_labels = reduce_labels

    @abstractmethod
    def samples(self, data: Path, *, labels: Mapping[int, str], skip_folders: list[Path],
                reports: list[Path]) -> list[Sample]:
        """The labelled samples of ``data`` (evaluation report folders found in it added to ``reports``)."""

    @abstractmethod
    def new_score(self) -> Any:
        """An empty accumulator (``datasets.metrics``)."""

    @abstractmethod
    def restored(self, state: dict[str, Any]) -> Any:
        """The accumulator saved as ``state``."""

    @abstractmethod
    def targets(self, batch: list[Sample], images: list[np.ndarray]) -> Any:
        """The batch's labels, read once for every variant."""

    @abstractmethod
    def outputs(self, model: Any, images: list[np.ndarray]) -> Any:
        """What the task class ``model`` decides for ``images``, in the form ``add`` scores."""

    @abstractmethod
    def reference_targets(self, reference: Any) -> Any:
        """The reference's decisions as targets (unlabelled data)."""

    @abstractmethod
    def add(self, score: Any, outputs: Any, targets: Any, reference: Any) -> None:
        """Add one batch's ``outputs`` to ``score``, against ``targets`` and the reference's outputs."""

    def check_scored(self, scores: Iterable[Any], *, data: str | Path) -> None:
        """DatasetError when labelled data left nothing to score (the figures would mean nothing); by default,
        every scored image counts."""
        del scores, data


class ClassificationScoring(TaskScoring):
    """Class ids: ImageFolder data, the task class's logits, top-1/top-5 and top-1 agreement."""

    def samples(self, data: Path, *, labels: Mapping[int, str], skip_folders: list[Path],
                reports: list[Path]) -> list[Sample]:
        return classification_samples(data, labels=dict(labels), skip_folders=skip_folders, reports=reports)

    def new_score(self) -> ClassificationScore:
        return ClassificationScore()

    def restored(self, state: dict[str, Any]) -> ClassificationScore:
        return ClassificationScore.from_state(state)

    def targets(self, batch: list[Sample], images: list[np.ndarray]) -> np.ndarray:
        return np.array([sample.target for sample in batch])

    def outputs(self, model: Any, images: list[np.ndarray]) -> Any:
        return model.logits(images)

    def reference_targets(self, reference: Any) -> Any:
        return np.argmax(reference, axis=1)

    def add(self, score: Any, outputs: Any, targets: Any, reference: Any) -> None:
        score.add(np.asarray(outputs), targets, reference_top1=np.argmax(reference, axis=1))


class SegmentationScoring(TaskScoring):
    """Label maps: images/ + masks/ data, the task class's labels per pixel, mIoU, pixel accuracy, agreement."""

    def samples(self, data: Path, *, labels: Mapping[int, str], skip_folders: list[Path],
                reports: list[Path]) -> list[Sample]:
        return segmentation_samples(data, skip_folders=skip_folders, reports=reports)

    def new_score(self) -> SegmentationScore:
        return SegmentationScore(num_classes=self.num_classes)

    def restored(self, state: dict[str, Any]) -> SegmentationScore:
        return SegmentationScore.from_state(state)

    def targets(self, batch: list[Sample], images: list[np.ndarray]) -> list[np.ndarray]:
        return [read_mask(sample, image_size=image.shape[:2], reduce_labels=self.reduce_labels,
                          num_classes=self.num_classes)
                for sample, image in zip(batch, images, strict=True)]

    def outputs(self, model: Any, images: list[np.ndarray]) -> Any:
        return [result.labels for result in model(images)]

    def reference_targets(self, reference: Any) -> list[np.ndarray]:
        return [np.asarray(labels, np.int64) for labels in reference]

    def add(self, score: Any, outputs: Any, targets: Any, reference: Any) -> None:
        for labels, mask, ref in zip(outputs, targets, reference, strict=True):
            score.add(labels, mask, reference=ref)

    def check_scored(self, scores: Iterable[Any], *, data: str | Path) -> None:
        """DatasetError when labelled masks had no pixel to score (all 255): an mIoU of 0 would mean nothing."""
        if any(score.labelled for score in scores):
            return
        fix = ("--reduce-labels maps 0 to 255: drop it if 0 is a real class" if self.reduce_labels
               else "masks hold class ids 0..N-1 per pixel, 255 only where a pixel is not scored")
        raise DatasetError(f"no pixel of the masks in {data} was scored: every mask pixel is 255, the ignore "
                           f"value; {fix}")


class EmbeddingScoring(TaskScoring):
    """Pooled embeddings: any folder of images, the nearest neighbour each finds and cosine similarity, against
    the reference's embeddings (``datasets.embedding_score``)."""

    uses_labels = False

    def samples(self, data: Path, *, labels: Mapping[int, str], skip_folders: list[Path],
                reports: list[Path]) -> list[Sample]:
        found = unlabelled_images(data, skip_folders=skip_folders)
        return [Sample(path) for path in found.files]

    def new_score(self) -> EmbeddingScore:
        return EmbeddingScore()

    def restored(self, state: dict[str, Any]) -> EmbeddingScore:
        return EmbeddingScore.from_state(state)

    def targets(self, batch: list[Sample], images: list[np.ndarray]) -> None:
        return None

    def outputs(self, model: Any, images: list[np.ndarray]) -> Any:
        return model.extract(images)

    def reference_targets(self, reference: Any) -> Any:
        return reference

    def add(self, score: Any, outputs: Any, targets: Any, reference: Any) -> None:
        score.add(outputs, reference)


# the task registry's ``evaluation`` -> how that kind of evaluation is scored
SCORINGS: Mapping[str, type[TaskScoring]] = MappingProxyType({"classification": ClassificationScoring,
                                                              "segmentation": SegmentationScoring,
                                                              "embedding": EmbeddingScoring})


def evaluated_tasks() -> str:
    """The tasks an evaluation scores, in words: "backbone, image-classification and semantic-segmentation"."""
    names = [name for name, entry in TASKS.items() if entry.evaluation is not None]
    return " and ".join(filter(None, (", ".join(names[:-1]), names[-1])))


def scoring_for(task_name: str) -> type[TaskScoring]:
    """The scoring of ``task_name``'s evaluation; InputError naming the evaluated tasks for one without any."""
    kind = task(task_name).evaluation
    if kind is None:
        raise InputError(f"evaluate measures {evaluated_tasks()} artifacts, not {task_name!r}")
    return SCORINGS[kind]


def scored_with_labels(task_name: str) -> bool:
    """Whether labelled data can score ``task_name`` (a backbone's embeddings are scored against fp32 alone)."""
    return scoring_for(task_name).uses_labels


class Scorer:
    """Per-variant accumulators; runs one decoded batch through every open model."""

    def __init__(self, task_name: str, *, num_classes: int, labelled: bool, reduce_labels: bool) -> None:
        self.scoring = scoring_for(task_name)(num_classes=num_classes, reduce_labels=reduce_labels)
        self.labelled = labelled and self.scoring.uses_labels
        self.labelled_metrics = task(task_name).evaluation_metrics
        self.scores: dict[Variant, Any] = {}

    def _score(self, variant: Variant) -> Any:
        if variant not in self.scores:
            self.scores[variant] = self.scoring.new_score()
        return self.scores[variant]

    def check_scored(self, data: str | Path) -> None:
        """DatasetError when labelled data left nothing to score (``TaskScoring.check_scored``)."""
        if self.labelled:
            self.scoring.check_scored(self.scores.values(), data=data)

    def run_batch(self, batch: list[Sample], images: list[np.ndarray], *, models: dict[Variant, Any],
                  results: list[VariantResult]) -> None:
        targets = self.scoring.targets(batch, images) if self.labelled else None
        reference = None
        for result in results:
            model = models.get(result.variant)
            if model is None:
                continue
            started = time.perf_counter()
            outputs = self.scoring.outputs(model, images)
            result.seconds += time.perf_counter() - started
            result.images += len(images)
            reference = outputs if result.variant == REFERENCE else reference
            truth = targets if targets is not None else self.scoring.reference_targets(reference)
            self.scoring.add(self._score(result.variant), outputs, truth, reference)

    def figures(self, variant: Variant) -> dict[str, float]:
        score = self.scores.get(variant)
        if score is None:
            return {}
        figures: dict[str, float] = score.figures()
        if self.labelled:
            return figures
        return {name: value for name, value in figures.items() if name not in self.labelled_metrics}

    def state(self, variant: Variant) -> dict[str, Any] | None:
        """The variant's accumulators as JSON (None before its first batch)."""
        score = self.scores.get(variant)
        return None if score is None else score.to_state()

    def restore(self, variant: Variant, state: dict[str, Any]) -> None:
        """Go on from accumulators ``state`` saved by an earlier run."""
        self.scores[variant] = self.scoring.restored(state)
