"""``SegmenterOptions``: what ``Segmenter`` takes beside the run options (``mode``, the sliding window's
``crop_size`` / ``stride`` / ``slide_scale``, ``fused_postprocess``), each checked when made, and
``slide_geometry``: the window an artifact runs, its defaults filled in and checked against the graph
(InputError naming the option and the fix). ``beit_runtime.segmenter`` describes the two modes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .errors import InputError
from .manifest import InputRecord
from .options import flag, positive_int

MODES = ("whole", "slide")
_WINDOW_OPTIONS = ("crop_size", "stride", "slide_scale")


def pair_option(value: int | Sequence[int] | None, *, name: str) -> tuple[int, int] | None:
    """None, or ``value`` (one int, or a (height, width) pair) as a pair of positive ints; InputError otherwise."""
    if value is None:
        return None
    try:
        pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
        if len(pair) != 2:
            raise InputError(f"{name} has {len(pair)} values")
        return positive_int(name, pair[0]), positive_int(name, pair[1])
    except (InputError, TypeError):
        raise InputError(
            f"{name} must be a positive int or a (height, width) pair of positive ints, got {value!r}"
        ) from None


@dataclass(frozen=True)
class SegmenterOptions:
    """What ``Segmenter`` adds to the run options (see ``beit_runtime.segmenter``), checked when made.

    ``crop_size`` and ``stride`` left as None default, once the artifact is read, to the model's input
    size and 2/3 of the crop; ``slide_scale`` None uses each image at its own size.
    """

    mode: str = "whole"
    crop_size: int | Sequence[int] | None = None
    stride: int | Sequence[int] | None = None
    slide_scale: Sequence[int] | None = None
    fused_postprocess: bool = True

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"mode must be one of {MODES}, got {self.mode!r}")
        for name in _WINDOW_OPTIONS:
            object.__setattr__(self, name, pair_option(getattr(self, name), name=name))
        object.__setattr__(self, "fused_postprocess", flag("fused_postprocess", self.fused_postprocess))


class SlideGeometry(NamedTuple):
    """The sliding window a segmenter runs: (height, width) pairs; ``slide_scale`` None: images at their size."""

    crop_size: tuple[int, int]
    stride: tuple[int, int]
    slide_scale: tuple[int, int] | None


def slide_geometry(chosen: SegmenterOptions, *, model_input: InputRecord, min_patch_grid: int) -> SlideGeometry:
    """``chosen``'s window with its defaults (the model's input size, a stride of 2/3 of the crop), checked: the
    window options only in mode "slide", a crop of another size only on a ``--dynamic-resolution`` graph and of
    at least ``min_patch_grid`` patches per side, a stride no larger than the crop (windows would leave gaps)."""
    crop_size = pair_option(chosen.crop_size, name="crop_size") or model_input.size
    stride = pair_option(chosen.stride, name="stride") or (max(1, (2 * crop_size[0]) // 3),
                                                           max(1, (2 * crop_size[1]) // 3))
    given = [name for name in _WINDOW_OPTIONS if getattr(chosen, name) is not None]
    if chosen.mode != "slide" and given:
        verb, them = ("applies", "it") if len(given) == 1 else ("apply", "them")
        raise InputError(f"{', '.join(given)} {verb} to mode='slide' only; pass mode='slide', or drop {them} "
                         "for the default whole-image mode")
    if crop_size != model_input.size and not model_input.dynamic_resolution:
        raise InputError(
            f"crop_size {crop_size} differs from the graph's fixed input size {model_input.size}; leave "
            "crop_size unset or export with --dynamic-resolution"
        )
    minimum = min_patch_grid * model_input.patch_size
    if min(crop_size) < minimum:
        raise InputError(f"crop_size {crop_size} is under the {minimum}x{minimum} pixels the graph needs "
                         f"({min_patch_grid}x{min_patch_grid} patches of {model_input.patch_size}); pass a "
                         f"crop_size of at least {minimum}")
    if stride[0] > crop_size[0] or stride[1] > crop_size[1]:
        raise InputError(f"stride {stride} must not exceed crop_size {crop_size}: windows would leave gaps")
    return SlideGeometry(crop_size, stride, pair_option(chosen.slide_scale, name="slide_scale"))
