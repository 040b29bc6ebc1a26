"""Runtime preprocessing (numpy + OpenCV, from the manifest) vs transformers' PIL image processor.

Both get the same decoded photos (decoding is not timed): the runtime's ``Preprocessor.batch`` on
RGB uint8 arrays, ``BeitImageProcessorPil``/``ViTImageProcessorPil`` on PIL images with
``return_tensors="np"``. The tensors are compared too, in 8-bit levels (1 level = 1/255/std).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .measure import Progress, TimingPlan, latency_stats, time_calls


def _decode(photos: list[Path]):
    from PIL import Image

    pil_images = [Image.open(path).convert("RGB") for path in photos]
    for image in pil_images:
        image.load()
    return pil_images, [np.asarray(image) for image in pil_images]


def _max_levels(ours: np.ndarray, theirs: np.ndarray, std: list[float]) -> float:
    if ours.shape != theirs.shape:
        return float("nan")
    level = (1.0 / 255.0) / np.asarray(std, dtype=np.float64).reshape(1, 3, 1, 1)
    return float(np.max(np.abs(ours.astype(np.float64) - theirs.astype(np.float64)) / level))


def compare_preprocessing(*, artifact_dir: str, hf_dir: str, model_type: str, photos: list[Path],
                          plan: TimingPlan, threads: int) -> dict:
    """Time both preprocessors on the same decoded photos; returns stats, the ratio and the max difference."""
    import cv2

    from beit_runtime.manifest import load_manifest
    from beit_runtime.preprocess import Preprocessor

    from .torch_backends import load_processor

    cv2.setNumThreads(threads)
    manifest = load_manifest(artifact_dir, verify_files=False)
    ours = Preprocessor.from_manifest(manifest)
    theirs = load_processor(hf_dir, model_type)
    pil_images, arrays = _decode(photos)
    progress = Progress("preprocessing beit_runtime")
    runtime_times = time_calls(lambda: ours.batch(arrays), plan=plan, progress=progress)
    progress.prefix = "preprocessing transformers-pil"
    hf_times = time_calls(lambda: theirs(images=pil_images, return_tensors="np"), plan=plan, progress=progress)
    progress.done("done")
    reference = np.asarray(theirs(images=pil_images, return_tensors="np")["pixel_values"])
    runtime = latency_stats(runtime_times, batch=len(arrays))
    transformers_pil = latency_stats(hf_times, batch=len(arrays))
    return {
        "images": [f"{p.name} {a.shape[1]}x{a.shape[0]}" for p, a in zip(photos, arrays)],
        "beit_runtime": runtime,
        "transformers_pil": transformers_pil,
        "speedup": round(transformers_pil["p50_ms"] / runtime["p50_ms"], 2),
        "max_diff_8bit_levels": round(_max_levels(ours.batch(arrays), reference, manifest.preprocessing["image_std"]), 3),
        "processor": type(theirs).__name__,
    }
