"""Accuracy of every variant of an artifact on the user's labelled images, measured side by side.

``evaluate(artifact, data, ...)`` reads the data set (``beit_runtime.datasets``: ImageFolder layout for
classification, images/ + masks/ for segmentation, any folder of images for a backbone's embeddings), decodes
each batch of images once, and runs it through every variant in turn, the fp32 ONNX Runtime reference first,
so the variants see the same images in the same order and their timings interleave (no variant is timed on a
cooler or hotter machine than the others). Per variant it accumulates top-1/top-5 or mIoU/pixel accuracy,
agreement with the reference's decisions (a backbone: the same nearest neighbour, and cosine similarity), and
images per second of the task-class call (preprocessing, engine and post-processing; decoding is shared and
not counted). Unreadable images are skipped and counted, never fatal; a data set with no readable image is a
DatasetError. With ``EvaluationOptions.checkpoint`` the sums are saved after every batch (``checkpoint``), and
a rerun with the same settings goes on from them; its folder is checked (created if missing) before the models
load, and removed again when the run stops before writing into it. Evaluation report folders inside the data,
and the masks of a segmentation data set read unlabelled, are not read as images (``datasets``), and the
report's ``notes`` say so, as progress does; progress goes to stderr (``beit_runtime.progress``). A variant
that cannot run here is a row saying why, unless the options asked for a backend or precision none of whose
variants runs: then that is the error (a missing backend's BackendUnavailableError names the extra that
installs it).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..datasets import Sample, name_rank, unlabelled_images
from ..datasets.unlabelled import reports_note
from ..errors import BeitDeployError, DatasetError, ImageError, InputError
from ..images import load_image
from ..manifest import Manifest, load_manifest
from ..options import flag, positive_int, thread_count
from ..output_files import output_folder
from ..progress import PROGRESS_MODES, Progress
from ..tasks import task
from .checkpoint import EvaluationCheckpoint
from .scoring import Scorer, TaskScoring
from .variants import REFERENCE, Variant, open_variant, select_variants


@dataclass
class VariantResult:
    """One row of the report: figures are the task's ``evaluation_metrics`` (top1/top5, miou/pixel_accuracy) and
    agreement, or agreement alone (unlabelled data)."""

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
    selection: str = ""  # which images were measured, when --limit chose some of them
    notes: tuple[str, ...] = ()  # what in the data folder was not read as data (report folders, masks), a line each

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
    limit: int | None = None  # evaluate N samples only, spread over the data set (``limited``)
    progress: str = "auto"  # "auto" (a bar on a terminal, lines otherwise), "bar", "lines", "off"; on stderr
    checkpoint: str | Path | None = None  # a state file saved after every batch: a rerun goes on from it

    def __post_init__(self) -> None:
        positive_int("batch_size", self.batch_size)
        thread_count("threads", self.threads)
        flag("reduce_labels", self.reduce_labels)
        flag("labelled", self.labelled)
        if self.limit is not None:
            positive_int("limit", self.limit)
        if self.progress not in PROGRESS_MODES:
            raise InputError(f"progress must be one of {PROGRESS_MODES}, got {self.progress!r}")


def _found(manifest: Manifest, data: Path, *, scoring: TaskScoring,
           options: EvaluationOptions) -> tuple[list[Sample], tuple[str, ...]]:
    """The samples of ``data``, and what was left out of them (``EvaluationReport.notes``)."""
    skip = [Path(options.checkpoint).parent] if options.checkpoint else []  # the report's folder, inside data
    if not options.labelled:
        found = unlabelled_images(data, skip_folders=skip)
        return [Sample(path) for path in found.files], found.notes
    reports: list[Path] = []
    samples = scoring.samples(data, labels=manifest.labels, skip_folders=skip, reports=reports)
    return samples, reports_note(reports)


def _decoded(batch: Sequence[Sample], *, skipped: list[tuple[str, str]],
             exif_orientation: bool = True) -> tuple[list[Sample], list[np.ndarray]]:
    """The samples of ``batch`` that decode, and their images; the others are added to ``skipped``."""
    kept, images = [], []
    for sample in batch:
        try:
            images.append(load_image(sample.path, exif_orientation=exif_orientation))
        except ImageError as error:
            skipped.append((str(sample.path), str(error)))
            continue
        kept.append(sample)
    return kept, images


def evaluate(artifact: str | Path, data: str | Path, *,
             options: EvaluationOptions = EvaluationOptions()) -> EvaluationReport:
    """Measure every selected variant on the labelled images in ``data`` (see the module docstring)."""
    manifest = load_manifest(artifact)
    with _checkpoint_folder(options), OpenVariants(manifest, options=options) as variants:
        return measure_accuracy(variants, data, options=options)


@contextlib.contextmanager
def _checkpoint_folder(options: EvaluationOptions) -> Iterator[None]:
    """The checkpoint's folder checked (created if missing) for the block, removed again if left empty by a
    failure; InputError naming the path and the fix when it is a folder or its folder cannot be written."""
    if options.checkpoint is None:
        yield
        return
    path = Path(options.checkpoint)
    if path.is_dir():
        raise InputError(f"checkpoint {path} is a folder: name a file (for example {path / 'state.json'})")
    with output_folder(path.parent, option=f"checkpoint {path}: its folder"):
        yield


def measure_accuracy(variants: OpenVariants, data: str | Path, *, options: EvaluationOptions) -> EvaluationReport:
    """Accuracy of the open ``variants`` on ``data`` (labelled, or agreement with the reference only when
    ``options.labelled`` is False: then ``data`` is any folder of images); with ``options.checkpoint``, going
    on from where an earlier run with the same settings stopped."""
    manifest = variants.manifest
    scorer = Scorer(manifest.task, num_classes=len(manifest.labels), labelled=options.labelled,
                    reduce_labels=options.reduce_labels)
    options = dataclasses.replace(options, labelled=scorer.labelled)  # a backbone's data is never labelled
    found, notes = _found(manifest, Path(data), scoring=scorer.scoring, options=options)
    samples, selection = limited(found, root=Path(data), limit=options.limit)
    skipped = _measure_batches(variants, samples, scorer=scorer, options=options, notes=notes,
                               checkpoint=_checkpoint(variants, samples, data=Path(data), options=options))
    if not any(result.images for result in variants.results):
        raise _nothing_read(data, skipped)
    scorer.check_scored(data)
    for result in variants.results:
        if not result.unavailable:
            result.figures = scorer.figures(result.variant)
    return EvaluationReport(str(manifest.folder), manifest.task, str(data), variants.results, skipped, selection,
                            notes)


def _nothing_read(data: str | Path, skipped: list[tuple[str, str]]) -> DatasetError:
    if not skipped:
        return DatasetError(f"no image found in {data}: give --data a folder of images (any format Pillow reads, "
                            "in subfolders too)")
    path, why = skipped[0]
    return DatasetError(f"no image in {data} could be read ({len(skipped)} skipped); the first, {path}: {why}")


def limited(samples: Sequence[Sample], *, root: Path, limit: int | None) -> tuple[list[Sample], str]:
    """``samples`` in SHA-256 order of their names (``datasets.name_rank``), the first ``limit`` of them when
    given: spread over every class folder or scene rather than the first ones by name, the same on every
    machine, and a larger limit (or none) extends a smaller one's list, so an evaluation state goes on. The
    second item says which were taken ("" for all)."""
    ranked = sorted(samples, key=lambda sample: name_rank(sample.path, root=root))
    if limit is None or limit >= len(ranked):
        return ranked, ""
    chosen = ranked[:limit]
    classes = {sample.target for sample in chosen if sample.target >= 0}
    spread = f", {len(classes)} of {len({sample.target for sample in samples})} classes" if classes else ""
    return chosen, f"{limit} of {len(samples)} images{spread} (--limit: a spread sample, by SHA-256 of their names)"


def _checkpoint(variants: OpenVariants, samples: Sequence[Sample], *, data: Path,
                options: EvaluationOptions) -> EvaluationCheckpoint | None:
    """The state file of this evaluation, keyed by everything that changes its figures or speeds."""
    if options.checkpoint is None:
        return None
    key = {"artifact": variants.manifest.files_digest, "variants": [variant.name for variant in variants.models],
           "labelled": options.labelled, "reduce_labels": options.reduce_labels,
           "batch_size": options.batch_size, "threads": options.threads}
    return EvaluationCheckpoint(Path(options.checkpoint), key=key, samples=samples, root=data)


def _measure_batches(variants: OpenVariants, samples: Sequence[Sample], *, scorer: Scorer,
                     options: EvaluationOptions, checkpoint: EvaluationCheckpoint | None,
                     notes: Sequence[str] = ()) -> list[tuple[str, str]]:
    """Run every batch not measured yet through every variant; the images skipped (this run and earlier)."""
    done, skipped = checkpoint.resume(scorer, variants.results) if checkpoint else (0, [])
    progress = Progress(len(samples), mode=options.progress, label="evaluate", initial=done)
    for note in notes:
        progress.note(note)
    if checkpoint is not None and done:
        progress.note(f"going on from {checkpoint.path}: {done} of {len(samples)} images were measured before"
                      if done < len(samples) else f"all {done} images were measured by an earlier run "
                      f"({checkpoint.path}); delete that file to measure them again")
    try:
        for start in range(done, len(samples), options.batch_size):
            batch = samples[start:start + options.batch_size]
            kept, images = _decoded(batch, skipped=skipped)
            if images:
                scorer.run_batch(kept, images, models=variants.models, results=variants.results)
            if checkpoint is not None:
                checkpoint.record(done=start + len(batch), skipped=skipped, scorer=scorer, results=variants.results)
            progress.advance(len(batch), failed=len(batch) - len(kept))
    finally:
        progress.close()
    return skipped


class OpenVariants:
    """The selected variants of an artifact, each loaded once as its task class (closed on exit); a variant
    that cannot run here keeps its reason in its ``VariantResult.unavailable``."""

    def __init__(self, manifest: Manifest, *, options: EvaluationOptions) -> None:
        self.manifest = manifest
        selected = select_variants(manifest, backend=options.backend, precision=options.precision)
        self.results = [VariantResult(variant) for variant in selected]
        self.models: dict[Variant, Any] = {}
        extra = {"fused_postprocess": True} if task(manifest.task).postprocess_graph else {}
        errors: dict[Variant, BeitDeployError] = {}
        for result in self.results:
            opened = open_variant(manifest.folder, result.variant, task_name=manifest.task,
                                  batch_size=options.batch_size, threads=options.threads, extra=extra)
            if not isinstance(opened, BeitDeployError):
                self.models[result.variant] = opened
            elif result.variant == REFERENCE:
                self.close()
                raise DatasetError(f"the fp32 ONNX Runtime reference cannot run: {opened}")
            else:
                errors[result.variant] = opened
                result.unavailable = str(opened)
        self._check_asked_for(options, errors)

    def _check_asked_for(self, options: EvaluationOptions, errors: dict[Variant, BeitDeployError]) -> None:
        """Raise why when no variant the options name (a backend or precision other than "all") can run here: a
        report of the reference alone is not what was asked for. A missing backend raises its
        BackendUnavailableError (exit 5, naming the extra that installs it)."""
        asked = [result.variant for result in self.results
                 if options.backend in (None, "all", result.variant.backend)
                 and options.precision in (None, "all", result.variant.precision)]
        if any(variant in self.models for variant in asked):
            return
        self.close()
        raise errors[asked[0]]

    def close(self) -> None:
        for model in self.models.values():
            model.close()
        self.models = {}

    def __enter__(self) -> OpenVariants:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
