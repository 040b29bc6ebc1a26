"""The process-wide thread pool that decodes and preprocesses lists of images (Pillow and OpenCV release the
GIL), and the CPUs it may use."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any


def cpu_count() -> int:
    """CPUs this process may run on (the affinity mask where the OS has one, e.g. in containers)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


@lru_cache(maxsize=1)
def _executor() -> ThreadPoolExecutor:
    """One process-wide pool for decoding and preprocessing (created on first use)."""
    return ThreadPoolExecutor(max_workers=cpu_count(), thread_name_prefix="beit-preprocess")


# a forked child has the pool but not its threads: a list call there waited forever (gunicorn --preload, fork pools)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_executor.cache_clear)


def parallel_map(function: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """``[function(item) for item in items]``, on the shared pool when there are several items and CPUs."""
    if len(items) < 2 or cpu_count() < 2:
        return [function(item) for item in items]
    return list(_executor().map(function, items))
