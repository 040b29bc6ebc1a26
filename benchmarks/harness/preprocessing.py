"""Runtime preprocessing vs transformers' PIL image processor, timed in interleaved rounds.

Every round times the transformers processor, then ours, on the same list of photos, so a noisy
neighbour slows both alike; the speed-up is the median of the per-round ratios with its IQR
(``beit_runtime.planning.timing.per_round_ratio``). Two starting points:

- ``decoded``: both get decoded photos, as the processors are called: PIL images for
  ``BeitImageProcessorPil``/``ViTImageProcessorPil`` (``return_tensors="np"``), RGB arrays for
  ``Preprocessor.batch``;
- ``files``: both start from paths: ``transformers.image_utils.load_image`` + the processor (what the
  pipelines do) vs the runtime's ``load_image`` on its pool + ``Preprocessor.batch`` (what the task
  classes do).

The tensors are compared too, in 8-bit levels (1 level = 1/255/std); 0 is expected. The command is
``python -m benchmarks.preprocess_bench``; the suite runs ``compare_preprocessing`` in a worker.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from beit_runtime.planning.timing import per_round_ratio

from ..backends.pytorch import load_processor
from ..workload.jobs import TimingPlan
from ..workload.machine import cpu_model
from .measure import Progress, latency_stats

IMAGENET = {"image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}
HALF = {"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}
COMMON = {"do_resize": True, "do_center_crop": False, "crop_size": None, "do_rescale": True,
          "rescale_factor": 1 / 255, "do_normalize": True, "channel_order": "rgb"}
# (processor family, recipe) as the presets' processors have them.
RECIPES = {
    "beit-base-224": ("beit", {**COMMON, "size": {"height": 224, "width": 224}, "resample": "bilinear", **HALF}),
    "beit-ade-640": ("beit", {**COMMON, "size": {"height": 640, "width": 640}, "resample": "bilinear", **HALF}),
    "deit-base-224": ("vit", {**COMMON, "size": {"shortest_edge": 256}, "resample": "bicubic", "do_center_crop": True,
                              "crop_size": {"height": 224, "width": 224}, **IMAGENET}),
}
PIL_CODES = {"nearest": 0, "bilinear": 2, "bicubic": 3}


def hf_processor(family: str, recipe: dict):
    import transformers

    cls = transformers.BeitImageProcessorPil if family == "beit" else transformers.ViTImageProcessorPil
    return cls(do_resize=recipe["do_resize"], size=dict(recipe["size"]), resample=PIL_CODES[recipe["resample"]],
               do_center_crop=recipe["do_center_crop"], crop_size=recipe["crop_size"], do_rescale=recipe["do_rescale"],
               rescale_factor=recipe["rescale_factor"], do_normalize=recipe["do_normalize"],
               image_mean=recipe["image_mean"], image_std=recipe["image_std"])


def _max_levels(ours: np.ndarray, theirs: np.ndarray, std: list[float]) -> float:
    if ours.shape != theirs.shape:
        return float("nan")
    level = (1.0 / 255.0) / np.asarray(std, dtype=np.float64).reshape(1, 3, 1, 1)
    return float(np.max(np.abs(ours.astype(np.float64) - theirs.astype(np.float64)) / level))


def _calls(ours, theirs, photos: list[Path], *, start: str, parallel: bool):
    """(transformers call, runtime call) that each turn the photos into one (N, 3, H, W) tensor."""
    from transformers.image_utils import load_image as hf_load_image

    from beit_runtime.images import load_image
    from beit_runtime.thread_pool import parallel_map

    if start == "files":
        names = [str(path) for path in photos]
        load = (lambda: parallel_map(load_image, names)) if parallel else (lambda: [load_image(n) for n in names])
        return (lambda: theirs(images=[hf_load_image(n) for n in names], return_tensors="np")["pixel_values"],
                lambda: ours.batch(load(), parallel=parallel))
    pil_images = [hf_load_image(str(path)) for path in photos]
    arrays = [np.asarray(image) for image in pil_images]
    return (lambda: theirs(images=pil_images, return_tensors="np")["pixel_values"],
            lambda: ours.batch(arrays, parallel=parallel))


def interleaved_rounds(reference, candidate, *, plan: TimingPlan, progress: Progress | None = None) -> np.ndarray:
    """(rounds, 2) seconds: each round times ``reference`` then ``candidate``, after ``plan.warmup`` untimed pairs."""
    for _ in range(plan.warmup):
        reference()
        candidate()
    rounds: list[tuple[float, float]] = []
    started = time.perf_counter()
    while len(rounds) < plan.iterations:
        t0 = time.perf_counter()
        reference()
        t1 = time.perf_counter()
        candidate()
        rounds.append((t1 - t0, time.perf_counter() - t1))
        if progress and len(rounds) % 5 == 0:
            ratios = [a / b for a, b in rounds]
            progress.update(f"round {len(rounds)}/{plan.iterations} ratio median {np.median(ratios):.2f}x")
        if time.perf_counter() - started > plan.time_limit_s and len(rounds) >= plan.min_iterations:
            break
    return np.asarray(rounds, dtype=np.float64)


def measure(ours, theirs, photos: list[Path], *, start: str, plan: TimingPlan, parallel: bool, std) -> dict:
    reference_call, runtime_call = _calls(ours, theirs, photos, start=start, parallel=parallel)
    progress = Progress(f"preprocessing ({start})")
    times = interleaved_rounds(reference_call, runtime_call, plan=plan, progress=progress)
    progress.done("done")
    ratio = per_round_ratio(slow=times[:, 0], fast=times[:, 1])
    return {
        "start": start,
        "beit_runtime": latency_stats(times[:, 1].tolist(), batch=len(photos)),
        "transformers_pil": latency_stats(times[:, 0].tolist(), batch=len(photos)),
        "speedup": round(ratio["median"], 2),
        "speedup_iqr": [round(ratio["q1"], 2), round(ratio["q3"], 2)],
        "rounds": ratio["rounds"],
        "max_diff_8bit_levels": round(_max_levels(runtime_call(), np.asarray(reference_call()), std), 3),
    }


def describe_photos(photos: list[Path], *, parallel: bool) -> dict:
    from PIL import Image

    from beit_runtime.thread_pool import cpu_count

    sizes = []
    for path in photos:
        with Image.open(path) as image:
            sizes.append(f"{path.name} {image.width}x{image.height}")
    return {"images": sizes, "cpu": cpu_model(), "pool_threads": cpu_count() if parallel else 1}


def compare_preprocessing(*, artifact_dir: str, hf_dir: str, model_type: str, photos: list[Path],
                          plan: TimingPlan, threads: int) -> dict:
    """The suite's job: the artifact's recipe vs the checkpoint's own processor, on decoded photos and from
    files. ``threads`` > 1 lets the runtime use its pool (one thread per CPU); 1 runs it serially."""
    from beit_runtime.manifest import load_manifest
    from beit_runtime.preprocess import Preprocessor


    manifest = load_manifest(artifact_dir, verify_files=False)
    ours, theirs = Preprocessor.from_manifest(manifest), load_processor(hf_dir, model_type)
    std, parallel = list(manifest.preprocessing.image_std), threads > 1
    decoded = measure(ours, theirs, photos, start="decoded", plan=plan, parallel=parallel, std=std)
    files = measure(ours, theirs, photos, start="files", plan=plan, parallel=parallel, std=std)
    return {**decoded, "from_files": files, "processor": type(theirs).__name__,
            **describe_photos(photos, parallel=parallel)}
