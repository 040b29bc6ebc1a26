"""This machine's float32 matrix-multiply rate, measured on the model's own GEMM shapes.

The rate is the set of one encoder layer's linear-layer GEMMs (QKV, output projection, MLP
up and down; M = batch x tokens) timed back to back: total FLOPs / median time per set. It is
briefly measured with numpy (its BLAS) and with torch (oneDNN/MKL), both limited to the benchmark's
thread count; the faster one is then timed once per round beside the backends (``gemm_set``), and
that is the reference for "% of sgemm".
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Sequence

import numpy as np

Shape = tuple[int, int, int]


def _operands(shapes: Sequence[Shape], seed: int = 0) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for m, k, n in shapes:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        out.append((a, b, np.empty((m, n), dtype=np.float32)))
    return out


def _rate(run_set: Callable[[], None], flops: float, *, repeats: int, min_seconds: float) -> float:
    run_set()
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - started < min_seconds:
        t0 = time.perf_counter()
        run_set()
        times.append(time.perf_counter() - t0)
        if len(times) >= 10 * repeats:
            break
    return flops / statistics.median(times) / 1e9


def numpy_rate(shapes: Sequence[Shape], *, repeats: int = 5, min_seconds: float = 1.0) -> float:
    operands = _operands(shapes)

    def run_set() -> None:
        for a, b, c in operands:
            np.matmul(a, b, out=c)

    return _rate(run_set, _flops(shapes), repeats=repeats, min_seconds=min_seconds)


def torch_rate(shapes: Sequence[Shape], *, threads: int, repeats: int = 5, min_seconds: float = 1.0) -> float:
    import torch

    torch.set_num_threads(threads)
    operands = [tuple(torch.from_numpy(x) for x in triple) for triple in _operands(shapes)]

    def run_set() -> None:
        with torch.inference_mode():
            for a, b, c in operands:
                torch.matmul(a, b, out=c)

    return _rate(run_set, _flops(shapes), repeats=repeats, min_seconds=min_seconds)


def _flops(shapes: Sequence[Shape]) -> float:
    return float(sum(2 * m * k * n for m, k, n in shapes))


def gemm_set(shapes: Sequence[Shape], *, library: str, threads: int) -> Callable[[], None]:
    """A callable running one set of the GEMMs with ``library`` ("numpy" or "torch")."""
    operands = _operands(shapes)
    if library == "torch":
        import torch

        torch.set_num_threads(threads)
        tensors = [tuple(torch.from_numpy(x) for x in triple) for triple in operands]

        def run_torch() -> None:
            with torch.inference_mode():
                for a, b, c in tensors:
                    torch.matmul(a, b, out=c)

        return run_torch

    def run_numpy() -> None:
        for a, b, c in operands:
            np.matmul(a, b, out=c)

    return run_numpy


def best_library(shapes: Sequence[Shape], *, threads: int, seconds: float = 0.5) -> str:
    """The faster of numpy and torch on these shapes (a short measurement)."""
    rates = {"numpy": numpy_rate(shapes, repeats=3, min_seconds=seconds)}
    with contextlib.suppress(ImportError):  # torch is optional: numpy alone is then the reference
        rates["torch"] = torch_rate(shapes, threads=threads, repeats=3, min_seconds=seconds)
    return max(rates, key=rates.get)


def set_flops(shapes: Sequence[Shape]) -> float:
    return _flops(shapes)
