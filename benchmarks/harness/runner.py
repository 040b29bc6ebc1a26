"""Run a job in a fresh worker process and sample its resident memory with psutil while it runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from .memory import sampled_peak_mib

REPO_ROOT = Path(__file__).resolve().parents[2]  # workers start here, so `-m benchmarks...` resolves
WORKER_MODULE = "benchmarks.harness.worker"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def worker_environment(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update({name: str(threads) for name in THREAD_VARIABLES})
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def exit_reason(worker: str, status: int | None, *, peak_mib: float) -> str:
    """Why a worker gave no answer; a SIGKILL is, on these machines, the kernel's out-of-memory killer."""
    reason = f"{worker} exited with status {status}"
    if status == -9:
        total = psutil.virtual_memory().total / 2**30
        reason += (f" (killed, most likely by the out-of-memory killer: it peaked at {peak_mib:,.0f} MiB, and the "
                   f"timed runs keep every backend's worker loaded at once in {total:.0f} GiB; time fewer --backends "
                   "per run)")
    return reason


def run_job(kind: str, payload: dict, *, threads: int, interval_s: float = 0.05) -> dict:
    """Run ``kind`` with ``payload`` in ``python -m benchmarks.harness.worker``; returns its result dict."""
    with tempfile.TemporaryDirectory(prefix="beit-bench-") as scratch:
        job_path, result_path = Path(scratch) / "job.json", Path(scratch) / "result.json"
        job_path.write_text(json.dumps({"kind": kind, "payload": payload}), encoding="utf-8")
        command = [sys.executable, "-m", WORKER_MODULE, str(job_path), str(result_path)]
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=worker_environment(threads))
        try:
            sampled = sampled_peak_mib(process, interval_s=interval_s)
        except KeyboardInterrupt:
            process.kill()
            raise
        if not result_path.is_file():
            return {"error": exit_reason("the worker", process.returncode, peak_mib=sampled) + " and wrote no result"}
        result = json.loads(result_path.read_text(encoding="utf-8"))
    result["peak_rss_sampled_mib"] = sampled
    result["wall_s"] = round(time.perf_counter() - started, 2)
    return result
