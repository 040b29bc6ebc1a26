"""Accuracy of every variant of an artifact on the user's labelled images, measured side by side.

``evaluate(artifact, data, ...)`` reads the data set (``beit_runtime.datasets``: ImageFolder layout for
classification, images/ + masks/ for segmentation), decodes each batch of images once, and runs it
through every variant in turn, the fp32 ONNX Runtime reference first, so the variants see the same
images in the same order and their timings interleave (no variant is timed on a cooler or hotter
machine than the others). Per variant it accumulates top-1/top-5 or mIoU/pixel accuracy, agreement
with the reference's decisions, and images per second of the task-class call (preprocessing, engine
and post-processing; decoding is shared and not counted). Unreadable images are skipped and counted,
never fatal; a data set with no readable image is a DatasetError.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..datasets import (
    ClassificationScore,
    Sample,
    SegmentationScore,
    classification_samples,
    image_files,
    read_mask,
    segmentation_samples,
)
from ..errors import DatasetError, ImageError, InputError
from ..images import load_image
from ..manifest import Manifest, load_manifest
from .variants import REFERENCE, Variant, open_variant, select_variants

SEGMENTATION = "semantic-segmentation"
CLASSIFICATION = "image-classification"


@dataclass
class VariantResult:
    """One row of the report: figures are top1/top5 (classification) or miou/pixel_accuracy (segmentation)."""

    variant: Variant
    images: int = 0
    seconds: float = 0.0
    figures: dict[str, float] = field(default_factory=dict)
    unavailable: str = ""

    def as_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {"backend": self.variant.backend, "precision": self.variant.precision,
                                  "images": self.images}
        if self.unavailable:
            return {**record, "unavailable": self.unavailable}
        return {**record, **self.figures, "images_per_s": self.images / self.seconds if self.seconds else 0.0}


@dataclass
class EvaluationReport:
    artifact: str
    task: str
    data: str
    results: list[VariantResult]
    skipped: list[tuple[str, str]]  # (path, why) of images that could not be read

    @property
    def measured(self) -> list[VariantResult]:
        return [result for result in self.results if not result.unavailable]


@dataclass(frozen=True)
class EvaluationOptions:
    backend: str | None = None
    precision: str | None = None
    batch_size: int = 8
    threads: int = 0
    reduce_labels: bool = False
    labelled: bool = True  # False: any folder of images, figures are agreement with the reference only
    limit: int | None = None  # evaluate the first N samples only


def _samples(task_name: str, data: Path, labels: dict[int, str]) -> list[Sample]:
    if task_name == CLASSIFICATION:
        return classification_samples(data, labels=labels)
    if task_name == SEGMENTATION:
        return segmentation_samples(data)
    raise InputError(f"evaluate measures image-classification and semantic-segmentation artifacts, not {task_name!r}")


def _decoded_batches(samples: Sequence[Sample], *, batch_size: int, skipped: list[tuple[str, str]],
                     exif_orientation: bool = True) -> Iterator[tuple[list[Sample], list[np.ndarray]]]:
    for start in range(0, len(samples), batch_size):
        kept, images = [], []
        for sample in samples[start:start + batch_size]:
            try:
                images.append(load_image(sample.path, exif_orientation=exif_orientation))
            except ImageError as error:
                skipped.append((str(sample.path), str(error)))
                continue
            kept.append(sample)
        if images:
            yield kept, images


def evaluate(artifact: str | Path, data: str | Path, *,
             options: EvaluationOptions = EvaluationOptions()) -> EvaluationReport:
    """Measure every selected variant on the labelled images in ``data`` (see the module docstring)."""
    manifest = load_manifest(artifact)
    with OpenVariants(manifest, options=options) as variants:
        return measure_accuracy(variants, data, options=options)


def measure_accuracy(variants: OpenVariants, data: str | Path, *, options: EvaluationOptions) -> EvaluationReport:
    """Accuracy of the open ``variants`` on ``data`` (labelled, or agreement with the reference only when
    ``options.labelled`` is False: then ``data`` is any folder of images)."""
    manifest = variants.manifest
    if options.labelled:
        samples = _samples(manifest.task, Path(data), dict(manifest.labels))[: options.limit]
    else:
        samples = [Sample(path) for path in image_files(data)][: options.limit]
    skipped: list[tuple[str, str]] = []
    scorer = _Scorer(manifest.task, num_classes=len(manifest.labels), labelled=options.labelled,
                     reduce_labels=options.reduce_labels)
    for batch, images in _decoded_batches(samples, batch_size=options.batch_size, skipped=skipped):
        scorer.run_batch(batch, images, models=variants.models, results=variants.results)
    if not any(result.images for result in variants.results):
        raise DatasetError(f"no image in {data} could be read ({len(skipped)} skipped); first: {skipped[:1]}")
    scorer.check_scored(data)
    for result in variants.results:
        if not result.unavailable:
            result.figures = scorer.figures(result.variant)
    return EvaluationReport(str(manifest.folder), manifest.task, str(data), variants.results, skipped)


class OpenVariants:
    """The selected variants of an artifact, each loaded once as its task class (closed on exit); a variant
    that cannot run here keeps its reason in its ``VariantResult.unavailable``."""

    def __init__(self, manifest: Manifest, *, options: EvaluationOptions) -> None:
        self.manifest = manifest
        selected = select_variants(manifest, backend=options.backend, precision=options.precision)
        self.results = [VariantResult(variant) for variant in selected]
        self.models: dict[Variant, Any] = {}
        extra = {"fused_postprocess": True} if manifest.task == SEGMENTATION else {}
        for result in self.results:
            model, why = open_variant(manifest.folder, result.variant, task_name=manifest.task,
                                      batch_size=options.batch_size, threads=options.threads, extra=extra)
            if model is not None:
                self.models[result.variant] = model
            elif result.variant == REFERENCE:
                self.close()
                raise DatasetError(f"the fp32 ONNX Runtime reference cannot run: {why}")
            else:
                result.unavailable = why

    def close(self) -> None:
        for model in self.models.values():
            model.close()
        self.models = {}

    def __enter__(self) -> OpenVariants:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _Scorer:
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
