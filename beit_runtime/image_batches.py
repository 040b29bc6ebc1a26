"""How the task classes batch images whose tensors differ in size (recipes that keep the image's size or
aspect ratio on graphs exported with ``--dynamic-resolution``): the smallest tensor a graph can run, the rows of
per-image feeds, and outputs put back in the images' order (``ArtifactModel.run_images``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import ImageFormatError


def too_small(image_size: Sequence[int], tensor_size: Sequence[int], *, patch: int, grid: int, graph: str) -> str:
    """Why an ``image_size`` image whose tensor is ``tensor_size`` cannot run on ``graph`` (which needs ``grid``
    patches of ``patch`` pixels per side); "" when it can."""
    minimum = patch * grid
    if min(tensor_size) >= minimum:
        return ""
    height, width = image_size
    made = "" if tuple(tensor_size) == (height, width) else f" preprocesses to {tensor_size[0]}x{tensor_size[1]}, which"
    patches = "one patch" if grid == 1 else f"{grid}x{grid} patches"
    return (f"a {height}x{width} (height x width) image{made} is smaller than the {minimum}x{minimum} pixels "
            f"({patches} of {patch} pixels) that {graph} needs at least; pad or resize it to at least "
            f"{minimum}x{minimum} first")


def feed_rows(value: Any, indices: list[int]) -> np.ndarray:
    """The rows ``indices`` of an extra feed: an array's rows, or a sequence's arrays stacked."""
    if isinstance(value, np.ndarray):
        return value[indices]
    return np.stack([np.asarray(value[index]) for index in indices])


def in_input_order(name: str, parts: Sequence[tuple[list[int], np.ndarray]], count: int) -> np.ndarray:
    """One output's batches put back in the images' order; ImageFormatError when their shapes differ."""
    shapes = sorted({value.shape[1:] for _, value in parts})
    if len(shapes) > 1:
        raise ImageFormatError(
            f"the images preprocess to different sizes and give '{name}' of different shapes {shapes}; pass "
            "images of one size per call (or one image per call)"
        )
    first = parts[0][1]
    out = np.empty((count, *first.shape[1:]), dtype=first.dtype)
    for indices, value in parts:
        out[indices] = value
    return out


