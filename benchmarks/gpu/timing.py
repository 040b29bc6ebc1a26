"""Wall-clock timing of one call (each call returns once its results are ready: host arrays, or ORT's
synchronised IO-binding run), and the figures a GPU row carries."""

from __future__ import annotations

import time
from collections.abc import Callable

from ..harness.measure import latency_stats


def timed(call: Callable[[], object], *, batch: int, warmup: int, iterations: int,
          synchronize: Callable[[], None] | None = None) -> dict[str, float]:
    """p50/p90/... latency (ms) and images/s of ``call`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        call()
    if synchronize is not None:
        synchronize()
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        call()
        if synchronize is not None:
            synchronize()
        times.append(time.perf_counter() - start)
    return latency_stats(times, batch=batch)


def iterations_for(batch: int, *, dry_run: bool) -> tuple[int, int]:
    """(warmup, timed iterations) for a batch size: about a second of work per row on an H200."""
    if dry_run:
        return 1, 3
    return (20, 300) if batch == 1 else (10, 150) if batch <= 8 else (10, 60)
