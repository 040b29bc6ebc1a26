"""How the task classes batch images whose tensors differ in size (recipes that keep the image's size or
aspect ratio on graphs exported with ``--dynamic-resolution``): the smallest tensor a graph can run, the rows of
per-image feeds, and outputs put back in the images' order (``ArtifactModel.run_images``); and how a call's
images argument becomes a list of decoded images (``image_list``, ``load_all``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from .errors import ImageError, ImageFormatError
from .thread_pool import parallel_map


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




def image_list(images: Any) -> tuple[list[Any], bool]:
    """(the images, whether one image was given): a list, a tuple, a 4-D array or an iterator (a generator,
    ``map``, ``Path.glob``) is a batch; anything else is one image."""
    if isinstance(images, (list, tuple, Iterator)) or (isinstance(images, np.ndarray) and images.ndim == 4):
        items = list(images)
        if not items:
            raise ImageFormatError("no images given; pass one image or a non-empty list of images")
        return items, False
    return [images], True


def load_all(load: Callable[[Any], np.ndarray], items: Sequence[Any]) -> list[np.ndarray]:
    """``load`` on every item (on the shared pool); an ImageError of a list's item says which one (``index``)."""
    if len(items) == 1:
        return [load(items[0])]
    return parallel_map(lambda pair: _load_one(load, pair[0], pair[1], count=len(items)), list(enumerate(items)))


def _load_one(load: Callable[[Any], np.ndarray], index: int, item: Any, *, count: int) -> np.ndarray:
    try:
        return load(item)
    except ImageError as error:
        error.args = (f"image at index {index} (of {count}): {error}", *error.args[1:])
        error.index = index
        raise
