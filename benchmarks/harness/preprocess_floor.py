"""The runtime's preprocessing against its floor: Pillow's own resize of the same decoded images with the
same filter, both on one thread, in interleaved rounds (issue 20 item 3: within 1.25x).

The floor is ``Image.fromarray(array).resize(size, filter)`` per image: the least any exact
preprocessor has to do (the reference processor resizes with that very call). The runtime does that
plus the center crop and the rescale+normalize table lookup into the float32 tensor
(``Preprocessor.batch(..., parallel=False)``). OpenCV is held to one thread while timing, so neither
side uses more than one core. The ratio is the median of the per-round ratios, with its IQR.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from beit_runtime.planning.machine import describe, machine_description
from beit_runtime.planning.timing import interleaved_rounds, per_round_ratio

from .preprocessing import RECIPES

GOAL_RATIO = 1.25


@contextlib.contextmanager
def one_opencv_thread() -> Iterator[None]:
    import cv2

    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(previous)


def _pillow_resize_all(arrays: list[np.ndarray], size: dict[str, int], resample: str):
    from PIL import Image

    from beit_runtime.preprocess import PIL_FILTERS, aspect_preserving_size

    def target(array: np.ndarray) -> tuple[int, int]:
        if "height" in size:
            return size["width"], size["height"]
        height, width = aspect_preserving_size(array.shape[0], array.shape[1], size["shortest_edge"],
                                               size.get("longest_edge"))
        return width, height

    targets = [target(array) for array in arrays]
    return lambda: [Image.fromarray(a).resize(t, PIL_FILTERS[resample]) for a, t in zip(arrays, targets, strict=True)]


def measure_floor(recipe_name: str, arrays: list[np.ndarray], *, rounds: int = 30) -> dict[str, Any]:
    """One recipe: floor and runtime ms per set of images, and the ratio runtime / floor."""
    from beit_runtime.preprocess import Preprocessor

    _, recipe = RECIPES[recipe_name]
    preprocessor = Preprocessor.from_manifest(recipe)
    calls = {"floor": _pillow_resize_all(arrays, recipe["size"], recipe["resample"]),
             "runtime": lambda: preprocessor.batch(arrays, parallel=False)}
    with one_opencv_thread():
        times = interleaved_rounds(calls, rounds=rounds, warmup=3)
    ratio = per_round_ratio(slow=times["runtime"], fast=times["floor"])
    return {"recipe": recipe_name, "resample": recipe["resample"], "images": len(arrays),
            "floor_ms": round(float(np.median(times["floor"])) * 1e3, 2),
            "runtime_ms": round(float(np.median(times["runtime"])) * 1e3, 2),
            "ratio": round(ratio["median"], 3), "ratio_iqr": [round(ratio["q1"], 3), round(ratio["q3"], 3)],
            "rounds": int(ratio["rounds"]), "goal": GOAL_RATIO, "met": bool(ratio["median"] <= GOAL_RATIO)}


def floor_table(result: dict[str, Any]) -> str:
    """The RESULTS.md block: one row per recipe, the CPU named."""
    lines = [f"Preprocessing vs its floor (Pillow's resize of the same {result['rows'][0]['images']} decoded photos, "
             f"same filter), one thread each, {result['rows'][0]['rounds']} interleaved rounds; CPU: {result['cpu']}.",
             "", "| recipe | filter | floor ms | runtime ms | runtime / floor [IQR] | goal <= 1.25x |",
             "|---|---|---|---|---|---|"]
    for row in result["rows"]:
        iqr = f"{row['ratio_iqr'][0]:.2f}-{row['ratio_iqr'][1]:.2f}"
        lines.append(f"| {row['recipe']} | {row['resample']} | {row['floor_ms']:.2f} | {row['runtime_ms']:.2f} | "
                     f"{row['ratio']:.2f}x [{iqr}] | {'met' if row['met'] else 'NOT met'} |")
    return "\n".join(lines) + "\n"


def floor_result(recipes: list[str], arrays: list[np.ndarray], *, rounds: int) -> dict[str, Any]:
    rows = [measure_floor(name, arrays, rounds=rounds) for name in recipes]
    return {"cpu": describe(machine_description()), "rows": rows}
