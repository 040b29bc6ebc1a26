"""Load generation for ``benchmarks/serving.py``: in-process batches, concurrent Triton clients, CPU accounting.

Timings are wall-clock on the calling machine. CPU time is read with psutil for this process (the
in-process run, and the clients during Triton runs) and for the server's process tree (tritonserver
and its python stubs), so the report can say where the cores went.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LoadResult:
    """One measurement: images done, wall seconds, per-call latencies (s), CPU seconds by side."""

    images: int
    seconds: float
    latencies: tuple[float, ...]
    client_cpu_s: float
    server_cpu_s: float = 0.0

    def summary(self, *, cores: int) -> dict:
        latencies = np.array(self.latencies) * 1000.0
        cpu = self.client_cpu_s + self.server_cpu_s
        return {
            "images": self.images, "seconds": round(self.seconds, 3),
            "throughput_ips": round(self.images / self.seconds, 2),
            "p50_ms": round(float(np.percentile(latencies, 50)), 2),
            "p99_ms": round(float(np.percentile(latencies, 99)), 2),
            "cpu_ms_per_image": {"client": round(1000 * self.client_cpu_s / self.images, 2),
                                 "server": round(1000 * self.server_cpu_s / self.images, 2)},
            "cores_busy": round(cpu / self.seconds, 2), "cores": cores,
        }


def process_cpu_seconds(pid: int | None = None, *, tree: bool = False) -> float:
    """user + system CPU seconds of a process (and, with ``tree``, of all its descendants)."""
    import psutil

    process = psutil.Process(pid)
    members = [process, *(process.children(recursive=True) if tree else [])]
    total = 0.0
    for member in members:
        try:
            times = member.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def in_process_run(
    call: Callable[[Sequence[bytes]], object], batches: Sequence[Sequence[bytes]], *, seconds: float
) -> LoadResult:
    """Call ``call(batch)`` over and over (cycling ``batches``) for about ``seconds``; one warm-up call first."""
    call(batches[0])
    latencies, images, start_cpu = [], 0, process_cpu_seconds()
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(latencies) < 3:
        batch = batches[len(latencies) % len(batches)]
        began = time.perf_counter()
        call(batch)
        latencies.append(time.perf_counter() - began)
        images += len(batch)
    wall = time.perf_counter() - start
    return LoadResult(images, wall, tuple(latencies), process_cpu_seconds() - start_cpu)


def concurrent_run(make_client: Callable[[], object], photos: Sequence[bytes], *, clients: int, seconds: float,
                   server_pid: int) -> LoadResult:
    """``clients`` threads, each with its own client, send one image per request until the deadline."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[BaseException] = []
    ready, go = threading.Barrier(clients + 1), threading.Event()
    deadline = [0.0]

    def worker(index: int) -> None:
        try:
            with make_client() as client:
                client(photos[index % len(photos)])  # warm-up (connection, first batch)
                ready.wait()
                go.wait()
                count = 0
                while time.perf_counter() < deadline[0]:
                    began = time.perf_counter()
                    client(photos[(index + count) % len(photos)])
                    latencies[index].append(time.perf_counter() - began)
                    count += 1
        except BaseException as error:  # reported after the run
            errors.append(error)
            ready.abort()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    ready.wait()
    client_cpu, server_cpu = process_cpu_seconds(), process_cpu_seconds(server_pid, tree=True)
    start = time.perf_counter()
    deadline[0] = start + seconds
    go.set()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    if errors:
        raise errors[0]
    flat = tuple(value for per_client in latencies for value in per_client)
    return LoadResult(len(flat), wall, flat, process_cpu_seconds() - client_cpu,
                      process_cpu_seconds(server_pid, tree=True) - server_cpu)
