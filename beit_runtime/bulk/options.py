"""``BulkOptions``: how a folder run walks, writes and reports, chosen once, checked when made.

How the model runs (precision, backend, batch size, threads) stays a ``RunOptions``; these are what a
folder run adds: where results go, which files are taken, and how the reading pipeline is sized.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from numbers import Real
from pathlib import Path

from ..errors import InputError
from ..options import positive_int
from ..progress import PROGRESS_MODES


@dataclass(frozen=True, kw_only=True)
class BulkOptions:
    """A folder run's own options.

    ``output``: the folder results go to (created; a rerun into it resumes). ``pattern``: a glob on the
    path relative to each input folder ("**/*.jpg"); None takes every image. ``overlays``: segmentation
    also writes OUT/<relative path>.overlay.png (colour overlay above a legend). ``top_k``: predictions
    per image (classification). ``shard_size``: embeddings per .npy shard; ``shard_seconds``: a shorter shard is
    written once its first embedding has waited this long (a kill -9 loses at most about that much work; 0: a
    shard per batch). ``reader_threads``: threads
    decoding and preprocessing the next batches while the engine runs; ``prefetch_batches``: at most
    this many batches are prepared ahead (memory stays bounded by it). ``progress``: "auto" (a bar on a
    terminal, plain lines otherwise), "bar", "lines" or "off".
    """

    output: str | os.PathLike[str]  # kept as a Path
    pattern: str | None = None
    overlays: bool = False
    top_k: int = 5
    shard_size: int = 1024
    shard_seconds: float = 60.0
    reader_threads: int = 2
    prefetch_batches: int = 4
    progress: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "output", Path(self.output))
        for name in ("top_k", "shard_size", "reader_threads", "prefetch_batches"):
            positive_int(name, getattr(self, name))
        _seconds("shard_seconds", self.shard_seconds)
        if self.progress not in PROGRESS_MODES:
            raise InputError(f"progress must be one of {PROGRESS_MODES}, got {self.progress!r}")
        if self.pattern is not None and not (isinstance(self.pattern, str) and self.pattern):
            raise InputError(f"pattern must be a non-empty glob such as '**/*.jpg', got {self.pattern!r}")
        object.__setattr__(self, "overlays", bool(self.overlays))


def _seconds(name: str, value: object) -> float:
    """``value`` as a number of seconds >= 0 (bools refused); InputError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 <= float(value) < math.inf:
        raise InputError(f"{name} must be a number of seconds >= 0, got {value!r}")
    return float(value)
