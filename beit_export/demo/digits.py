"""scikit-learn's handwritten digits as 8x8 grayscale uint8 images, and the demo classifier's fixed split.

``sklearn.datasets.load_digits`` ships with scikit-learn (no download): 1,797 real 8x8 digits (UCI
"optdigits", 43 writers) with ink counts 0..16 per pixel. They are rendered here as uint8 with
``np.rint(images * 255 / 16)`` (round half to even, then ``astype(np.uint8)``): 0 -> 0, 16 -> 255,
ink bright on a dark background. The split is by position in ``load_digits`` order, never shuffled:

- ``train_split()``: images 0..1437 (the first 80%, 1,438 images), the only ones training sees
  (validation, if any, must be carved out of these);
- ``held_out_split()``: images 1438..1796 (the last 20%, 359 images), for reporting accuracy only.

numpy + scikit-learn only (no torch), so tests and benchmarks can use it next to the torch-free runtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from beit_runtime.errors import BackendUnavailableError, missing_extra

NUM_DIGITS = 1797
HELD_OUT_START = 1438
IMAGE_SIDE = 8
INK_MAX = 16
CLASS_NAMES = tuple(str(digit) for digit in range(10))


@dataclass(frozen=True)
class DigitSplit:
    """``images``: (N, 8, 8) uint8, ink bright on dark; ``labels``: (N,) int64 digits 0..9."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def image_list(self) -> list[np.ndarray]:
        """The images as a list of HxW uint8 arrays, the form ``beit_runtime`` takes a batch of grayscale in."""
        return list(self.images)


def _load_digits():
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:
        raise BackendUnavailableError(
            missing_extra("scikit-learn", "export", needed_by="the digits demo data")) from error
    return load_digits()


def to_uint8(ink: np.ndarray) -> np.ndarray:
    """Ink counts 0..16 (any float or int array) -> uint8 0..255 as ``np.rint(ink * 255 / 16)``."""
    scaled = np.rint(np.asarray(ink, dtype=np.float64) * (255.0 / INK_MAX))
    return np.clip(scaled, 0, 255).astype(np.uint8)


@lru_cache(maxsize=1)
def _all_digits() -> tuple[np.ndarray, np.ndarray]:
    bunch = _load_digits()
    images = to_uint8(bunch.images)
    labels = np.asarray(bunch.target, dtype=np.int64)
    if images.shape != (NUM_DIGITS, IMAGE_SIDE, IMAGE_SIDE):
        raise ValueError(
            f"sklearn.datasets.load_digits returned images of shape {images.shape}, expected "
            f"({NUM_DIGITS}, {IMAGE_SIDE}, {IMAGE_SIDE}); reinstall scikit-learn"
        )
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def train_split() -> DigitSplit:
    """The first 1,438 digits: everything training (and any validation) may use."""
    images, labels = _all_digits()
    return DigitSplit(images=images[:HELD_OUT_START], labels=labels[:HELD_OUT_START])


def held_out_split() -> DigitSplit:
    """The last 359 digits (index 1438 onwards): never trained or selected on, only scored."""
    images, labels = _all_digits()
    return DigitSplit(images=images[HELD_OUT_START:], labels=labels[HELD_OUT_START:])


def top1_accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of ``predicted`` class ids equal to ``labels`` (same length, > 0)."""
    predicted, labels = np.asarray(predicted).reshape(-1), np.asarray(labels).reshape(-1)
    if predicted.shape != labels.shape or predicted.size == 0:
        raise ValueError(f"need as many predictions as labels (> 0), got {predicted.size} and {labels.size}")
    return float(np.mean(predicted == labels))
