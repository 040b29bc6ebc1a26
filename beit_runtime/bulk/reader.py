"""A bounded, pipelined reader: the next batches are decoded and preprocessed on threads while the
engine runs the current one.

``prefetched(chunks, prepare, threads=T, depth=D)`` yields ``prepare(chunk)`` for every chunk, in order,
with at most D chunks submitted and not yet consumed, so memory holds at most D prepared batches however
large the folder is. Pillow's decoding and resizing release the GIL, so the reader threads and the
engine's own threads overlap.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from ..options import positive_int

Chunk = TypeVar("Chunk")
Prepared = TypeVar("Prepared")


def prefetched(chunks: Iterable[Chunk], prepare: Callable[[Chunk], Prepared], *, threads: int = 2,
               depth: int = 4) -> Iterator[Prepared]:
    """``prepare(chunk)`` for each chunk, in order, run ahead on ``threads`` threads, ``depth`` chunks at most.

    An exception raised by ``prepare`` is raised here when its chunk's turn comes; closing the generator
    early cancels what was not started and waits for what was.
    """
    threads = positive_int("threads", threads)
    depth = max(positive_int("depth", depth), threads)
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="beit-bulk-reader")
    pending: deque[Future[Prepared]] = deque()
    remaining = iter(chunks)
    try:
        for chunk in remaining:
            pending.append(pool.submit(prepare, chunk))
            if len(pending) >= depth:
                break
        while pending:
            ready = pending.popleft()
            for chunk in remaining:
                pending.append(pool.submit(prepare, chunk))
                break
            yield ready.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
