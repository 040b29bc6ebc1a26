"""Cold start of ORT fp32: process start to first result, and peak RSS, with and without the optimized-model cache.

Each start is a fresh process: ``from beit_runtime import Classifier``, ``Classifier(artifact)``, one photo
(a path) -> top-1. Rows: without the cache (``BEIT_DEPLOY_CACHE=off``), the first start on an empty cache,
and warm starts (interleaved with the uncached ones, so both see the same load on shared cores); then the
inference time of the cached graph against the graph optimized at load, in one process, interleaved.
Writes benchmarks/out/cold-start.json (``--output``); ``--write-results`` writes the stored figures instead,
benchmarks/RESULTS-cold-start.json and its section of benchmarks/RESULTS.md (``--results-md`` for another
RESULTS.md). ``--quick``: tiny-beit, 2 runs (a smoke test; never the stored figures). Usage::

    python benchmarks/cold_start.py --artifact-dir /tmp/beit-base --write-results
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from beit_runtime.manifest import load_manifest
from benchmarks.report.cold_start import render, write_section
from benchmarks.workload.photos import write_photos

DEFAULT_MODEL = "microsoft/beit-base-patch16-224"
STORED_RESULTS = Path(__file__).resolve().parent / "RESULTS-cold-start.json"
STORED_MD = STORED_RESULTS.with_name("RESULTS.md")
DEFAULT_OUTPUT = Path("benchmarks/out/cold-start.json")
# the child: what a user's process does, nothing more (times are wall-clock, compared with the parent's spawn)
CHILD = """import time
started = time.time()
import json, resource, sys
from beit_runtime import Classifier
imported = time.time()
options = json.loads(sys.argv[3])
classifier = Classifier(sys.argv[1], backend="onnxruntime", precision="fp32", **options)
loaded = time.time()
top = classifier(sys.argv[2], top_k=1)
done = time.time()
try:  # VmHWM: this program's own peak (ru_maxrss keeps the spawning parent's peak across exec)
    status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
    peak = int(status["VmHWM"].split()[0]) * 1024
except (OSError, KeyError, ValueError):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"started": started, "imported": imported, "loaded": loaded, "done": done, "label": top[0].label,
                  "peak_rss_bytes": peak, "cache": getattr(classifier.engine, "optimized_cache", "n/a")}))
"""


def start_once(artifact: Path, image: Path, *, cache: str, threads: int) -> dict[str, Any]:
    """One fresh process from spawn to first result, with ``BEIT_DEPLOY_CACHE=cache``."""
    options = json.dumps({"intra_op_threads": threads} if threads else {})
    env = {**os.environ, "BEIT_DEPLOY_CACHE": cache}
    spawned = time.time()
    done = subprocess.run([sys.executable, "-c", CHILD, str(artifact), str(image), options], env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the cold-start child failed (exit {done.returncode}): {done.stderr[-2000:]}")
    child = json.loads(done.stdout.strip().splitlines()[-1])
    return {"total_s": child["done"] - spawned, "start_s": child["started"] - spawned,
            "import_s": child["imported"] - child["started"], "load_s": child["loaded"] - child["imported"],
            "first_result_s": child["done"] - child["loaded"], "peak_rss_bytes": child["peak_rss_bytes"],
            "cache": child["cache"], "label": child["label"]}


def summarise(name: str, starts: list[dict[str, Any]], weight_bytes: int) -> dict[str, Any]:
    """p50 of each time, max of the peak RSS, over ``starts``."""
    row: dict[str, Any] = {"name": name, "runs": len(starts)}
    for key in ("total_s", "start_s", "import_s", "load_s", "first_result_s"):
        row[key] = statistics.median(start[key] for start in starts)
    peak = max(start["peak_rss_bytes"] for start in starts)
    row.update(peak_rss_mib=peak / 2 ** 20, rss_over_weights=peak / weight_bytes,
               cache="/".join(sorted({str(start["cache"]) for start in starts})), samples=starts)
    return row


def inference_ratio(graph: Path, cache: str, *, rounds: int, threads: int) -> dict[str, Any]:
    """Median over interleaved rounds of (cached graph time / graph optimized at load time), one process."""
    import numpy as np

    from beit_runtime.engines import load_engine

    os.environ["BEIT_DEPLOY_CACHE"] = cache
    options: dict[str, Any] = {"providers": ["CPUExecutionProvider"], "intra_op_threads": threads}
    with load_engine(graph, **options) as cached, load_engine(graph, optimized_cache=False, **options) as plain:
        spec = plain.inputs[0]
        shape = tuple(d if isinstance(d, int) else 1 for d in spec.shape)
        feeds = {spec.name: np.random.default_rng(0).standard_normal(shape).astype(spec.dtype)}
        equal = all(np.array_equal(a, b) for a, b in zip(cached.run(feeds).values(), plain.run(feeds).values(),
                                                             strict=True))
        ratios = []
        for _ in range(rounds):
            times: dict[str, list[float]] = {"cached": [], "plain": []}
            for _ in range(3):
                for name, engine in (("cached", cached), ("plain", plain)):
                    begin = time.perf_counter()
                    engine.run(feeds)
                    times[name].append(time.perf_counter() - begin)
            ratios.append(statistics.median(times["cached"]) / statistics.median(times["plain"]))
        status = getattr(cached, "optimized_cache", "n/a")
    return {"median": statistics.median(ratios), "rounds": rounds, "equal": equal, "cached_status": status,
            "ratios": ratios}


def weight_bytes(artifact: Path) -> int:
    """Bytes of the fp32 graph file and its external data (the weights, plus well under 1% of graph structure)."""
    manifest = load_manifest(artifact, verify_files=False)
    files = [manifest.graph_path("fp32")] + [manifest.file_path(name) for name in manifest.graphs["fp32"].external_data]
    return sum(path.stat().st_size for path in files)


def machine() -> dict[str, Any]:
    from beit_runtime.planning.machine import describe, machine_description

    description = machine_description()
    return {"cpu": describe(description), "logical_cores": os.cpu_count(), "python": platform.python_version(),
            "onnxruntime": description["libraries"].get("onnxruntime", "?"), "load_average": os.getloadavg()}


def measure(artifact: Path, image: Path, *, runs: int, threads: int, workdir: Path) -> list[dict[str, Any]]:
    """The three rows: warm starts interleaved with uncached ones, after one first start on an empty cache."""
    cache = str(workdir / "cache")
    weights = weight_bytes(artifact)
    first = start_once(artifact, image, cache=cache, threads=threads)
    print(f"[cold-start] first start {first['total_s']:.3f} s ({first['cache']})", file=sys.stderr)
    uncached, warm = [], []
    for run in range(runs):
        uncached.append(start_once(artifact, image, cache="off", threads=threads))
        warm.append(start_once(artifact, image, cache=cache, threads=threads))
        print(f"[cold-start] run {run + 1}/{runs}: no cache {uncached[-1]['total_s']:.3f} s, warm "
              f"{warm[-1]['total_s']:.3f} s ({warm[-1]['cache']})", file=sys.stderr)
    return [summarise("no cache (before)", uncached, weights), summarise("first start (empty cache)", [first], weights),
            summarise("warm start", warm, weights)]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help=f"preset id exported with random weights (default "
                        f"{DEFAULT_MODEL}; tiny-beit with --quick); the label with --artifact-dir")
    parser.add_argument("--artifact-dir", type=Path, help="an exported artifact (skips the export)")
    parser.add_argument("--cache-dir", type=Path, default=Path("benchmarks/out/cache"),
                        help="where a preset is exported once (default benchmarks/out/cache)")
    parser.add_argument("--runs", type=int, default=7, help="warm and uncached starts each (default 7, 2 with --quick)")
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (default 0: ONNX Runtime's choice)")
    parser.add_argument("--rounds", type=int, default=8, help="interleaved rounds of the inference-speed check")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"JSON results (default {DEFAULT_OUTPUT})")
    parser.add_argument("--results-md", type=Path, help="write the cold-start section of this RESULTS.md")
    parser.add_argument("--write-results", action="store_true",
                        help=f"store the figures: {STORED_RESULTS.name} and the section of {STORED_MD.name}")
    parser.add_argument("--quick", action="store_true", help="smoke test: tiny-beit, 2 runs, 2 rounds")
    return parser


def _artifact(args: argparse.Namespace, model: str) -> Path:
    if args.artifact_dir is not None:
        return args.artifact_dir.resolve()
    from benchmarks.workload.prepare import prepare_model

    return Path(prepare_model(model, cache_dir=args.cache_dir.resolve(), variants={"fp32"}).artifact_dir)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.write_results and args.quick:
        parser.error("--quick is a smoke test: its figures are never stored (drop --write-results)")
    if args.write_results:
        args.output, args.results_md = STORED_RESULTS, args.results_md or STORED_MD
    default = "tiny-beit" if args.quick else DEFAULT_MODEL
    model = args.model or (str(args.artifact_dir) if args.artifact_dir else default)
    runs, rounds = (min(args.runs, 2), min(args.rounds, 2)) if args.quick else (args.runs, args.rounds)
    if runs < 1 or rounds < 1:
        raise SystemExit("--runs and --rounds must be at least 1")
    artifact = _artifact(args, model)
    host = machine()  # the load average before the measurement
    with tempfile.TemporaryDirectory(prefix="beit-cold-start-") as folder:
        workdir = Path(folder)
        image = write_photos(workdir / "photos")[0]
        rows = measure(artifact, image, runs=runs, threads=args.threads, workdir=workdir)
        graph = load_manifest(artifact, verify_files=False).graph_path("fp32")
        speed = inference_ratio(graph, str(workdir / "cache"), rounds=rounds, threads=args.threads)
    data = {"model": model, "artifact": str(artifact), "weight_bytes": weight_bytes(artifact), "threads": args.threads,
            "machine": host, "rows": rows, "inference_ratio": speed, "quick": args.quick}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    if args.results_md is not None:
        write_section(args.results_md, data)
    print(render(data), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
