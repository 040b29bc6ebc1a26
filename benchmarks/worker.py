"""One measurement job in a fresh process: ``python -m benchmarks.worker JOB.json RESULT.json``.

A fresh process per backend keeps peak memory, thread pools and allocator state from mixing.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path

from .context import BackendJob
from .measure import Progress, TimingPlan, latency_stats, time_calls
from .photos import batch_of

END_TO_END_TASKS = ("image-classification", "semantic-segmentation", "backbone")


def _rss_mib() -> float:
    import psutil

    return round(psutil.Process().memory_info().rss / 2**20, 1)


def _peak_rss_mib() -> float | None:
    """This process's RSS high-water mark (Linux VmHWM; ru_maxrss would include the parent's, inherited
    across fork), None where /proc is not available (the parent's psutil samples still give a peak)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def _measure_batches(backend, job: BackendJob, progress: Progress) -> dict[str, dict]:
    results: dict[str, dict] = {}
    photos = job.photo_paths
    for batch in job.batch_sizes:
        entry = {}
        progress.prefix = f"{job.model.name} {job.backend} batch {batch} engine"
        entry["engine"] = latency_stats(time_calls(backend.engine_call(batch), plan=job.plan, progress=progress),
                                        batch=batch)
        if job.end_to_end and job.model.task in END_TO_END_TASKS:
            progress.prefix = f"{job.model.name} {job.backend} batch {batch} end-to-end"
            call = backend.end_to_end_call(batch_of(photos, batch))
            entry["end_to_end"] = latency_stats(time_calls(call, plan=job.plan, progress=progress), batch=batch)
        results[str(batch)] = entry
    return results


def run_backend_job(payload: dict) -> dict:
    from .backends import REGISTRY

    job = BackendJob.from_json(payload)
    spec = REGISTRY[job.backend]
    reason = spec.unavailable(job)
    if reason:
        return {"backend": job.backend, "skipped": reason}
    progress = Progress(f"{job.model.name} {job.backend} cold start")
    progress.update("loading")
    started = time.perf_counter()
    backend = spec.factory(job)
    loaded = time.perf_counter()
    first_call = (backend.end_to_end_call(job.photo_paths[:1]) if job.model.task in END_TO_END_TASKS
                  else backend.engine_call(1))
    first_call()
    cold = {"load_s": round(loaded - started, 3), "first_result_s": round(time.perf_counter() - loaded, 3),
            "cold_start_s": round(time.perf_counter() - started, 3), "rss_after_load_mib": _rss_mib()}
    batches = _measure_batches(backend, job, progress)
    progress.done("done")
    backend.close()
    return {"backend": job.backend, "notes": backend.notes, "cold_start": cold, "batches": batches,
            "peak_rss_mib": _peak_rss_mib()}


def run_sgemm_job(payload: dict) -> dict:
    from .sgemm import measure_sgemm

    Progress("sgemm").update(f"measuring float32 matmul on {payload['threads']} threads")
    shapes = {int(b): [tuple(s) for s in shapes] for b, shapes in payload["shapes_by_batch"].items()}
    return {"by_batch": measure_sgemm(shapes, threads=payload["threads"], repeats=payload["repeats"],
                                      min_seconds=payload["min_seconds"])}


def run_preprocess_job(payload: dict) -> dict:
    from .preprocess_bench import compare_preprocessing

    return compare_preprocessing(
        artifact_dir=payload["artifact_dir"], hf_dir=payload["hf_dir"], model_type=payload["model_type"],
        photos=[Path(p) for p in payload["photos"]], plan=TimingPlan(**payload["plan"]), threads=payload["threads"],
    )


JOBS = {"backend": run_backend_job, "sgemm": run_sgemm_job, "preprocess": run_preprocess_job}


def main(argv: list[str]) -> int:
    job_path, result_path = Path(argv[0]), Path(argv[1])
    job = json.loads(job_path.read_text(encoding="utf-8"))
    try:
        result = JOBS[job["kind"]](job["payload"])
    except Exception as error:  # report any failure as data; the parent keeps going with other jobs
        result = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc(limit=8)}
    result["peak_rss_mib"] = result.get("peak_rss_mib", _peak_rss_mib())
    result_path.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
