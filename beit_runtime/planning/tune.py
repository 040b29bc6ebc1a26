"""``tune``: measure every variant of an artifact on this machine and write the plan that picks one.

Speed: each variant's task class is called on the same decoded batch (``batch_size`` images from the
data folder, or a fixed random image of the model's size when there is none; masked-image-modeling's with masks
hiding no patch) in interleaved rounds;
its speed-up is the per-round ratio fp32 time / variant time (``timing.per_round_ratio``). The call is
the user's call (preprocessing, engine, post-processing), so the figure is what the user gets.

Accuracy, in this order of preference:
- labelled ``data`` (ImageFolder for classification, images/ + masks/ for segmentation): top-1 or mIoU,
  and the drop from fp32 in points;
- unlabelled ``data`` (any folder of images; a backbone's data always is): agreement with fp32's decisions
  (per image, per pixel, or the nearest neighbour of each embedding); the drop is the disagreement, in points;
- no ``data``: the agreement the exporter measured against PyTorch on its parity images, from the
  manifest's parity record for the variant (a variant without one is not eligible).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..datasets.unlabelled import unlabelled_images
from ..engines.backends import backend_info
from ..errors import ImageError, InputError
from ..evaluation.evaluate import EvaluationOptions, OpenVariants, VariantResult, measure_accuracy
from ..evaluation.scoring import evaluated_tasks, scored_with_labels
from ..evaluation.variants import REFERENCE, Variant
from ..images import load_image
from ..manifest import Manifest, load_manifest
from ..options import positive_int, thread_count
from ..output_files import checked_file
from ..progress import PROGRESS_MODES, Progress
from ..tasks import BOOL_MASKED_POS, task
from .machine import machine_description, machine_key
from .plan import SLOWER_NOTE, Plan, PlanRow, choose, default_plan_path, write_plan
from .timing import interleaved_rounds, per_round_ratio

MIN_ROUNDS = 4  # fewer, and "faster in three rounds out of four" (the first quartile above 1) means nothing


@dataclass(frozen=True)
class TuneOptions:
    data: Path | None = None
    labelled: bool = True
    max_drop: float = 1.0  # accuracy points a variant may lose against fp32
    batch_size: int = 8
    rounds: int = 7
    threads: int = 0
    limit: int | None = 256  # images measured for accuracy (a spread sample: ``evaluation.evaluate.limited``)
    plan_path: Path | None = None
    progress: str = "auto"  # the accuracy pass and the timing rounds on stderr: "auto", "bar", "lines", "off"

    def __post_init__(self) -> None:
        drop = self.max_drop
        if isinstance(drop, bool) or not isinstance(drop, (int, float)) or not math.isfinite(drop) or drop < 0:
            raise InputError(f"max_drop (--max-drop) must be a finite number of accuracy points >= 0, got {drop!r}")
        positive_int("batch_size", self.batch_size)
        if positive_int("rounds", self.rounds) < MIN_ROUNDS:
            raise InputError(f"rounds (--rounds) must be at least {MIN_ROUNDS}, got {self.rounds}: a variant is chosen "
                             "only when faster than fp32 in 3 rounds of 4 (its ratio's first quartile above 1)")
        thread_count("threads", self.threads)
        if self.limit is not None:
            positive_int("limit", self.limit)
        if self.progress not in PROGRESS_MODES:
            raise InputError(f"progress must be one of {PROGRESS_MODES}, got {self.progress!r}")


def tune(artifact: str | Path, *, options: TuneOptions = TuneOptions()) -> tuple[Plan, Path]:
    """Measure, choose, write; returns the plan and where it was written."""
    manifest = load_manifest(artifact)
    if options.data is not None:
        _check_scored_task(manifest)
        if options.labelled and not scored_with_labels(manifest.task):  # a backbone: any folder of images
            options = dataclasses.replace(options, labelled=False)
    digest = manifest.files_digest
    path = checked_file(options.plan_path or default_plan_path(digest),
                        option="plan_path" if options.plan_path else "the default plan file")
    evaluation = EvaluationOptions(batch_size=options.batch_size, threads=options.threads, labelled=options.labelled,
                                   limit=options.limit, progress=options.progress)
    with OpenVariants(manifest, options=evaluation) as variants:
        report = measure_accuracy(variants, options.data, options=evaluation) if options.data else None
        accuracy = report.results if report else None
        speed = _time_variants(variants, _timing_images(manifest, options), options=options)
        rows = [_row(result, speed, accuracy, manifest, options) for result in variants.results]
    best, reason = choose(rows)
    plan = Plan(
        machine=machine_description(), machine_key=machine_key(), artifact_digest=digest,
        artifact=str(manifest.folder), batch_size=options.batch_size, max_drop=options.max_drop,
        accuracy_source=_accuracy_source(options, selection=report.selection if report else ""),
        chosen_backend=best.backend if best else REFERENCE.backend,
        chosen_precision=best.precision if best else REFERENCE.precision, reason=reason, rows=tuple(rows),
    )
    return plan, write_plan(plan, path)


def _check_scored_task(manifest: Manifest) -> None:
    """InputError before any measurement when ``data`` cannot score the artifact's task, naming what tune does."""
    if task(manifest.task).evaluation is not None:
        return
    raise InputError(
        f"tune --data measures the accuracy of {evaluated_tasks()} artifacts, not {manifest.task!r} "
        f"({manifest.folder}); "
        f"without --data, `beit-run tune {manifest.folder}` times every variant against fp32 and takes accuracy "
        "from the manifest's parity records (agreement with PyTorch; a variant whose record has no agreement "
        "figure is timed but not chosen)"
    )


def _accuracy_source(options: TuneOptions, *, selection: str) -> str:
    if options.data is None:
        return "agreement with PyTorch on the exporter's parity images (manifest)"
    kind = "labelled" if options.labelled else "agreement with fp32 on"
    return f"{kind} {options.data}" + (f": {selection}" if selection else "")


def _timing_images(manifest: Manifest, options: TuneOptions) -> list[np.ndarray]:
    if options.data is not None:
        for path in unlabelled_images(options.data).files[: options.batch_size * 4]:  # images/, not masks/
            try:
                return [load_image(path)] * options.batch_size
            except ImageError:  # an unreadable file: try the next one
                continue
    size = manifest.input.size
    image = np.random.default_rng(0).integers(0, 256, size=(*size, 3), dtype=np.uint8)
    return [image] * options.batch_size


def _time_variants(variants: OpenVariants, images: list[np.ndarray], *,
                   options: TuneOptions) -> dict[Variant, list[float]]:
    masked = BOOL_MASKED_POS in task(variants.manifest.task).graph_inputs
    runs = {variant: partial(model, images, *([_no_masks(model, images)] if masked else []))
            for variant, model in variants.models.items()}
    progress = Progress(options.rounds, mode=options.progress, label="tune timing", unit="rounds")
    try:
        return interleaved_rounds(runs, rounds=options.rounds, warmup=1, after_round=partial(progress.advance, 1))
    finally:
        progress.close()


def _no_masks(model: Any, images: list[np.ndarray]) -> np.ndarray:
    """Masks hiding no patch of ``images``, for a task class that takes them (``MaskedImageModeler``): hiding
    patches swaps their embeddings for the mask token, the same work."""
    return np.stack([model.default_mask(image) for image in images])


def _row(result: VariantResult, speed: dict[Variant, list[float]], accuracy: list[VariantResult] | None,
         manifest: Manifest, options: TuneOptions) -> PlanRow:
    variant = result.variant
    if result.unavailable:
        return PlanRow(variant.backend, variant.precision, {}, {}, 0.0, False, f"unavailable: {result.unavailable}")
    ratio = per_round_ratio(slow=speed[REFERENCE], fast=speed[variant])
    figures, drop = _accuracy(variant, accuracy, manifest)
    note = ""
    if variant != REFERENCE and ratio["q1"] <= 1.0:
        note = SLOWER_NOTE if ratio["median"] < 1.0 else "not clearly faster than fp32 here"
    elif drop is None or drop > options.max_drop:
        note = _no_figure(manifest, options) if drop is None else \
            f"accuracy drop {drop:.2f} > {options.max_drop} points"
    eligible = variant != REFERENCE and not note
    return PlanRow(variant.backend, variant.precision, ratio, figures, drop if drop is not None else float("nan"),
                   eligible, note)


def _no_figure(manifest: Manifest, options: TuneOptions) -> str:
    """Why a row has no accuracy figure, naming how to get one where tune can measure it."""
    if options.data is None and task(manifest.task).evaluation is not None:
        return "no accuracy figure (the parity record has none: tune --data DIR measures one)"
    return "no accuracy figure"


def _accuracy(variant: Variant, accuracy: list[VariantResult] | None,
              manifest: Manifest) -> tuple[dict[str, float], float | None]:
    if accuracy is None:
        agreement = _parity_agreement(manifest, variant)
        return ({"agreement": agreement}, 100.0 * (1.0 - agreement)) if agreement is not None else ({}, None)
    by_variant = {result.variant: result.figures for result in accuracy}
    figures, reference = by_variant.get(variant, {}), by_variant[REFERENCE]
    key = task(manifest.task).headline_metric if "agreement" not in figures or len(figures) > 1 else "agreement"
    if key not in figures:
        return figures, None
    base = reference[key] if key != "agreement" else 1.0
    return figures, round(100.0 * (base - figures[key]), 3)


def _parity_agreement(manifest: Manifest, variant: Variant) -> float | None:
    """The exporter's agreement figure for ``variant`` (top-1 / pixel agreement with PyTorch), if recorded."""
    info = backend_info(variant.backend)
    engine = None if info.parity_reference else info.parity_name(variant.precision)
    record = manifest.parity_for(info.graph_for(variant.precision), engine=engine)
    if record is None or not record.passed:
        return None
    values = [float(figure) for output in record.outputs.values() for name, figure in output.items()
              if name in ("top1_agreement", "pixel_agreement")]
    return min(values) if values else None

