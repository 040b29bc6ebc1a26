"""One job in a fresh process: ``python -m benchmarks.harness.worker JOB.json RESULT.json`` (preprocessing, accuracy).

A fresh process per backend keeps peak memory, thread pools and allocator state from mixing.
``python -m benchmarks.harness.worker --serve`` keeps one backend (or the sgemm reference) loaded and times
single calls on request, so ``benchmarks.harness.interleave`` can run every backend's iterations round-robin.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

from ..workload.jobs import TimingPlan
from .memory import peak_rss_mib


def run_preprocess_job(payload: dict) -> dict:
    from .preprocessing import compare_preprocessing

    return compare_preprocessing(
        artifact_dir=payload["artifact_dir"], hf_dir=payload["hf_dir"], model_type=payload["model_type"],
        photos=[Path(p) for p in payload["photos"]], plan=TimingPlan(**payload["plan"]), threads=payload["threads"],
    )


def run_accuracy_job(payload: dict) -> dict:
    from .accuracy import measure_rows

    return measure_rows(payload)


JOBS = {"preprocess": run_preprocess_job, "accuracy": run_accuracy_job}


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--serve":
        from .serve import serve

        return serve()
    job_path, result_path = Path(argv[0]), Path(argv[1])
    job = json.loads(job_path.read_text(encoding="utf-8"))
    try:
        result = JOBS[job["kind"]](job["payload"])
    except Exception as error:  # report any failure as data; the parent keeps going with other jobs
        result = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc(limit=8)}
    result["peak_rss_mib"] = result.get("peak_rss_mib", peak_rss_mib())
    result_path.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
