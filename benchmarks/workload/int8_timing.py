"""One backend's share of ``benchmarks.int8_options``, run in a child process (its own threads, its own oneDNN
ISA cap: ``ONEDNN_MAX_CPU_ISA`` is read once per process).

The child loads the fp32 graph and every candidate on one backend, checks each candidate's parity against
the fp32 graph on the same backend and inputs (int8 tolerances of ``beit_export.parity``), then times them in
interleaved rounds: each round times every graph in turn (order rotated per round) at each batch size, and
the speed-up of a candidate is taken per round (fp32 time / candidate time), reported as median and IQR.

Usage: ``python -m benchmarks.workload.int8_timing REQUEST.json ANSWER.json``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

Runner = Callable[[np.ndarray], np.ndarray]


def _ort_runner(path: str, *, threads: int) -> Runner:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda pixels: session.run(None, {name: pixels})[0]


def _openvino_runner(path: str, *, threads: int) -> Runner:
    import openvino as ov

    config = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads}
    compiled = ov.Core().compile_model(path, "CPU", config)
    request = compiled.create_infer_request()
    return lambda pixels: np.array(request.infer([pixels])[0])


RUNNERS = {"onnxruntime": _ort_runner, "openvino": _openvino_runner}


def parity(reference: Runner, candidate: Runner, batches: list[np.ndarray], *,
           max_rel_l2: float | None = None) -> dict[str, Any]:
    """Worst drift of ``candidate`` from ``reference`` over ``batches`` (logits), judged at int8 tolerances
    (``max_rel_l2``: a stricter rel-L2 limit on top of them)."""
    from beit_export.parity.tolerances import check_tolerances, drift_metrics

    per_batch = [drift_metrics(reference(b), candidate(b), kind="logits") for b in batches]
    worst = {key: max(m[key] for m in per_batch) for key in ("rel_l2", "max_abs_scaled")}
    worst["top1_agreement"] = min(m["top1_agreement"] for m in per_batch)
    failures = check_tolerances(worst, precision="int8", kind="logits")
    if max_rel_l2 is not None and not worst["rel_l2"] <= max_rel_l2:
        failures.append(f"rel_l2 = {worst['rel_l2']:.4g}, expected at most {max_rel_l2:g} (--max-rel-l2)")
    return {**{k: round(v, 5) for k, v in worst.items()}, "passed": not failures, "failures": failures}


def _time_once(runner: Runner, pixels: np.ndarray, *, iterations: int) -> float:
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        runner(pixels)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def interleaved(runners: dict[str, Runner], inputs: dict[int, np.ndarray], *, rounds: int,
                iterations: dict[int, int]) -> dict[int, dict[str, list[float]]]:
    """Per batch size, per graph: the median call time of each round (graphs in rotated order each round)."""
    names = list(runners)
    for pixels in inputs.values():  # warm-up: first calls compile kernels and allocate
        for name in names:
            runners[name](pixels)
    times: dict[int, dict[str, list[float]]] = {batch: {n: [] for n in names} for batch in inputs}
    for index in range(rounds):
        order = names[index % len(names):] + names[:index % len(names)]
        for batch, pixels in inputs.items():
            for name in order:
                times[batch][name].append(_time_once(runners[name], pixels, iterations=iterations[batch]))
    return times


def speedups(times: dict[str, list[float]], name: str) -> dict[str, Any]:
    """fp32 time / ``name`` time per round: median, IQR, and both medians in ms."""
    ratios = np.array(times["fp32"]) / np.array(times[name])
    q1, median, q3 = np.percentile(ratios, [25, 50, 75])
    return {"speedup_median": round(float(median), 3), "speedup_iqr": [round(float(q1), 3), round(float(q3), 3)],
            "ms_median": round(1e3 * float(np.median(times[name])), 2),
            "fp32_ms_median": round(1e3 * float(np.median(times["fp32"])), 2)}


def run(job: dict[str, Any]) -> dict[str, Any]:
    make = RUNNERS[job["backend"]]
    arrays = np.load(job["inputs"])
    parity_batches = [arrays[k] for k in sorted(arrays) if k.startswith("parity")]
    inputs = {int(k.removeprefix("time_b")): arrays[k] for k in arrays if k.startswith("time_b")}
    runners = {"fp32": make(job["fp32"], threads=job["threads"])}
    results: dict[str, Any] = {}
    for name, path in job["candidates"].items():
        try:
            runners[name] = make(path, threads=job["threads"])
            results[name] = {"parity": parity(runners["fp32"], runners[name], parity_batches,
                                                 max_rel_l2=job.get("max_rel_l2"))}
        except Exception as error:  # a graph this backend cannot run is a result
            runners.pop(name, None)
            results[name] = {"error": f"{type(error).__name__}: {str(error)[:300]}"}
    iterations = {int(k): v for k, v in job["iterations"].items()}
    times = interleaved(runners, inputs, rounds=job["rounds"], iterations=iterations)
    for name in runners:
        if name != "fp32":
            results[name]["timing"] = {f"b{b}": speedups(times[b], name) for b in times}
    return results


if __name__ == "__main__":
    request, answer = Path(sys.argv[1]), Path(sys.argv[2])
    answer.write_text(json.dumps(run(json.loads(request.read_text(encoding="utf-8")))), encoding="utf-8")
