"""ONNX Runtime rows: each graph variant x I/O mode (host numpy, IO-bound, CUDA graph) x batch size.

Modes, all through the runtime's public ``load_engine`` / ``Engine.run`` (numpy in, numpy out):
``host`` (``io_binding=False``: ONNX Runtime copies the numpy arrays itself on every run), ``iobound``
(preallocated device buffers per shape, one counted copy each way) and ``cudagraph`` (the same plus
one captured CUDA graph per batch size). Each row also records the copies per call and, for every
variant, the drift of its outputs from a reference (PyTorch fp32 on the GPU when given, else the fp32
graph) judged by the exporter's tolerances.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from beit_runtime.engines import load_engine

from .timing import iterations_for, timed

MODES = ("host", "iobound", "cudagraph")


def engine_options(mode: str, *, providers: Sequence[str], batch_sizes: Sequence[int]) -> dict[str, Any]:
    """``load_engine`` options for one I/O mode (the CUDA-graph mode needs the CUDA provider)."""
    options: dict[str, Any] = {"providers": list(providers), "io_binding": mode != "host"}
    if mode == "cudagraph":
        options["cuda_graph_batch_sizes"] = tuple(batch_sizes)
    return options


def pixel_feeds(engine: Any, *, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random N(0,1) pixel_values (and 40% patch masks) shaped like the engine's inputs."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for spec in engine.inputs:
        dims = [batch, *(d if isinstance(d, int) and d > 0 else 1 for d in spec.shape[1:])]
        if np.dtype(spec.dtype) == np.bool_:
            feeds[spec.name] = rng.random(dims) < 0.4
        elif np.dtype(spec.dtype) == np.uint8:
            feeds[spec.name] = rng.integers(0, 256, dims, dtype=np.uint8)
        else:
            feeds[spec.name] = rng.standard_normal(dims).astype(spec.dtype)
    return feeds


def _per_call(before: Mapping[str, int], after: Mapping[str, int], calls: int) -> dict[str, float]:
    return {key: round((after[key] - before[key]) / calls, 2) for key in ("host_to_device", "device_to_host")}


def mode_rows(graph: Path, *, variant: str, mode: str, providers: Sequence[str], batch_sizes: Sequence[int],
              dry_run: bool) -> list[dict[str, Any]]:
    """One row per batch size for one variant in one mode."""
    rows = []
    with load_engine(graph, **engine_options(mode, providers=providers, batch_sizes=batch_sizes)) as engine:
        for batch in batch_sizes:
            feeds = pixel_feeds(engine, batch=batch)
            warmup, iterations = iterations_for(batch, dry_run=dry_run)
            before = engine.copy_counts()
            stats = timed(lambda feeds=feeds: engine.run(feeds), batch=batch, warmup=warmup, iterations=iterations)
            row = {"variant": variant, "mode": mode, "batch": batch, **stats,
                   "copies_per_call": _per_call(before, engine.copy_counts(), warmup + iterations)}
            if mode == "cudagraph":
                row["cuda_graph"] = batch in engine.cuda_graphs_captured
                row["cuda_graph_fallback"] = engine.cuda_graph_fallbacks.get(batch)
            rows.append(row)
            print(f"[gpu] {variant:>12} {mode:>9} b{batch:<3} p50 {stats['p50_ms']:8.3f} ms "
                  f"{stats['throughput_ips']:10.1f} img/s", flush=True)
    return rows


def variant_outputs(graph: Path, feeds: Mapping[str, np.ndarray], *, providers: Sequence[str]) -> dict[str, np.ndarray]:
    """The variant's outputs on ``feeds`` (host I/O), for the parity figures."""
    with load_engine(graph, providers=list(providers), io_binding=False) as engine:
        return engine.run(dict(feeds))


def parity_figures(outputs: Mapping[str, np.ndarray], reference: Mapping[str, np.ndarray], *, task: str,
                   precision: str) -> dict[str, Any]:
    """Drift of each output from the reference, judged by the exporter's tolerances for ``precision``."""
    from beit_export.parity.tolerances import check_tolerances, drift_metrics, output_kind

    figures: dict[str, Any] = {}
    for name, value in outputs.items():
        kind = output_kind(task, name)
        metrics = drift_metrics(reference[name], value, kind=kind)
        figures[name] = {**{k: round(v, 6) for k, v in metrics.items()}, "kind": kind,
                         "failures": check_tolerances(metrics, precision=precision, kind=kind)}
    return figures
