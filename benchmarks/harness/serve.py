"""The worker side of ``benchmarks.harness.interleave``: keep one backend loaded, time one call per request.

Requests (JSON lines on stdin): ``load`` {kind: "backend" | "sgemm", payload}, ``warmup`` {batch,
mode, count}, ``time`` {batch, mode} -> {seconds}, ``close`` -> {peak_rss_mib}. Replies go to a dup of
the original stdout; stdout itself is pointed at stderr, so library prints cannot break the protocol.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Callable

from beit_runtime.tasks import task

from ..workload.jobs import BackendJob
from ..workload.photos import batch_of
from .memory import peak_rss_mib, rss_mib


class _Served:
    """Callables per (batch, mode), built once and reused for every timed call."""

    def __init__(self, factories: dict[str, Callable[[int], Callable[[], object]]], batches: list[int]) -> None:
        self.factories, self.batches, self._calls = factories, batches, {}

    def call(self, batch: int, mode: str) -> Callable[[], object]:
        key = (batch, mode)
        if key not in self._calls:
            self._calls[key] = self.factories[mode](batch)
        return self._calls[key]

    def modes(self) -> dict[str, list[int]]:
        return {mode: list(self.batches) for mode in self.factories}


def _load_backend(payload: dict) -> tuple[_Served | None, dict]:
    from ..backends import REGISTRY

    job = BackendJob.from_json(payload)
    spec = REGISTRY[job.backend]
    reason = spec.unavailable(job)
    if reason:
        return None, {"skipped": reason}
    started = time.perf_counter()
    backend = spec.factory(job)
    loaded = time.perf_counter()
    end_to_end = job.end_to_end and task(job.model.task).benchmark_end_to_end
    (backend.end_to_end_call(job.photo_paths[:1]) if end_to_end else backend.engine_call(1))()
    cold = {"load_s": round(loaded - started, 3), "first_result_s": round(time.perf_counter() - loaded, 3),
            "cold_start_s": round(time.perf_counter() - started, 3), "rss_after_load_mib": rss_mib()}
    factories = {"engine": backend.engine_call}
    if end_to_end:
        factories["end_to_end"] = lambda batch: backend.end_to_end_call(batch_of(job.photo_paths, batch))
    return _Served(factories, list(job.batch_sizes)), {"notes": backend.notes, "cold_start": cold}


def _load_sgemm(payload: dict) -> tuple[_Served, dict]:
    from .sgemm import best_library, gemm_set

    shapes = {int(b): [tuple(s) for s in value] for b, value in payload["shapes_by_batch"].items()}
    library = best_library(shapes[min(shapes)], threads=payload["threads"])
    served = _Served({"engine": lambda batch: gemm_set(shapes[batch], library=library, threads=payload["threads"])},
                     sorted(shapes))
    return served, {"notes": f"float32 matmul of the model's GEMM shapes with {library}", "library": library}


LOADERS = {"backend": _load_backend, "sgemm": _load_sgemm}


def _handle(request: dict, state: dict) -> dict:
    op = request["op"]
    if op == "load":
        state["served"], reply = LOADERS[request["kind"]](request["payload"])
        return {**reply, "modes": state["served"].modes() if state["served"] else {}}
    if op == "close":
        return {"peak_rss_mib": peak_rss_mib()}
    call = state["served"].call(int(request["batch"]), request["mode"])
    if op == "warmup":
        for _ in range(int(request.get("count", 1))):
            call()
        return {"ok": True}
    started = time.perf_counter()
    call()
    return {"seconds": time.perf_counter() - started}


def serve() -> int:
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    state: dict = {"served": None}
    for line in sys.stdin:
        request = json.loads(line)
        try:
            reply = _handle(request, state)
        except Exception as error:  # reported as data; the coordinator goes on with the others
            reply = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc(limit=6)}
        protocol.write(json.dumps(reply) + "\n")
        if request["op"] == "close":
            break
    return 0
