"""Timing variants side by side: interleaved rounds, and the one definition of a speed ratio.

Variants are timed in interleaved rounds (round r runs every variant once, in turn, on the same
input), so a slow phase of the machine hits all of them alike. A ratio is taken per round, slow time
/ fast time, and reported as the median of the per-round ratios with their inter-quartile range:
never as a ratio of separately taken medians, which hides the spread. ``benchmarks`` uses the same
functions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TypeVar

import numpy as np

from ..errors import InputError

Key = TypeVar("Key", bound=Hashable)


def spread(values: np.ndarray) -> dict[str, float]:
    """Median and quartiles (3 decimals) and the number of rounds."""
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return {"median": round(float(median), 3), "q1": round(float(q1), 3), "q3": round(float(q3), 3),
            "rounds": int(values.size)}


def per_round_ratio(*, slow: Sequence[float] | np.ndarray, fast: Sequence[float] | np.ndarray) -> dict[str, float]:
    """How many times faster ``fast`` is than ``slow``: the spread of slow / fast over the rounds both have."""
    slow_times, fast_times = np.asarray(slow, dtype=np.float64), np.asarray(fast, dtype=np.float64)
    rounds = min(slow_times.size, fast_times.size)
    if rounds == 0:
        raise InputError("a per-round ratio needs at least one round timed on both sides; got none (time more rounds)")
    return spread(slow_times[:rounds] / fast_times[:rounds])


def interleaved_rounds(runs: Mapping[Key, Callable[[], object]], *, rounds: int = 7, warmup: int = 1,
                       budget_s: float | None = None,
                       after_round: Callable[[], object] | None = None) -> dict[Key, list[float]]:
    """Seconds per call of each of ``runs``, ``rounds`` times, in turn (A B C A B C ...), after ``warmup``
    untimed rounds. ``budget_s`` stops early (keeping at least 3 rounds) when the rounds take too long.
    ``after_round`` is called after each timed round, outside the timed calls (a progress display)."""
    if rounds < 1 or warmup < 0:
        raise InputError(f"rounds must be >= 1 and warmup >= 0, got rounds={rounds}, warmup={warmup}")
    for _ in range(warmup):
        for run in runs.values():
            run()
    times: dict[Key, list[float]] = {name: [] for name in runs}
    started = time.perf_counter()
    for index in range(rounds):
        for name, run in runs.items():
            begin = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - begin)
        if after_round is not None:
            after_round()
        if budget_s is not None and index >= 2 and time.perf_counter() - started > budget_s:
            break
    return times
