"""Side-by-side latency report for beit-deploy: PyTorch eager vs our ONNX graphs (fp32/int8/fp16),
TensorRT and PyTorch CUDA fp16 where present. See ``python -m benchmarks.latency --help`` (or
``python benchmarks/latency.py --help``).

Writes OUTPUT_DIR/results.json, report.md and latency.png, prints a table, and reports progress on
stderr. Each backend runs in a fresh process (peak memory per backend). ``--quick`` runs a tiny
model with few iterations (a smoke test, under a minute); the real figures need a quiet machine.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.backends import DEFAULT_BACKENDS, REGISTRY
from benchmarks.harness.arguments import names_in, positive_ints
from benchmarks.harness.suite import Settings, run_suite
from benchmarks.report.tables import printed_summary
from benchmarks.workload.jobs import TimingPlan
from benchmarks.workload.tiny import TINY_MODELS

DEFAULT_MODEL = "microsoft/beit-base-patch16-224"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", help=f"preset id (random init; repeatable or comma-separated); "
                        f"default {DEFAULT_MODEL}; e.g. microsoft/beit-large-patch16-224, "
                        f"microsoft/beit-base-finetuned-ade-640-640; tiny test models: {', '.join(TINY_MODELS)}")
    parser.add_argument("--batch-sizes", type=positive_ints, help="comma-separated (default 1,8; 1 for segmentation)")
    parser.add_argument("--threads", type=int, help="intra-op threads for every backend (default 2; 1 with --quick)")
    parser.add_argument("--iterations", type=int, default=30, help="timed iterations per measurement (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed warm-up iterations (default 3)")
    parser.add_argument("--time-limit", type=float, default=60.0,
                        help="seconds per measurement before stopping early, min 3 iterations (default 60)")
    parser.add_argument("--backends", type=names_in(REGISTRY, what="backends"), default=DEFAULT_BACKENDS,
                        help=f"comma-separated subset of {','.join(REGISTRY)} (default: all; absent ones are "
                        "listed as skipped with the reason)")
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/out"))
    parser.add_argument("--cache-dir", type=Path, help="exported artifacts are cached here (default OUTPUT_DIR/cache)")
    parser.add_argument("--artifact-dir", type=Path, help="benchmark this existing artifact instead of exporting")
    parser.add_argument("--int8-mode", choices=("dynamic", "static"), default="dynamic",
                        help="how the int8 graph is quantized at export (default dynamic: ORT CPU's fast path)")
    parser.add_argument("--results-md", type=Path, help="also write the report here (e.g. benchmarks/RESULTS.md)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: tiny-beit (or the --artifact-dir), batch 1,2, 5 iterations, 1 warm-up "
                        "(under a minute)")
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    models = tuple(m.strip() for text in (args.model or []) for m in text.split(",") if m.strip())
    plan = TimingPlan(iterations=args.iterations, warmup=args.warmup, time_limit_s=args.time_limit)
    batches, sgemm_seconds, threads = args.batch_sizes, 1.0, args.threads or 2
    if args.quick:
        models, threads = models or (() if args.artifact_dir else ("tiny-beit",)), args.threads or 1
        plan = TimingPlan(iterations=5, warmup=1, time_limit_s=2.0, min_iterations=2)
        batches, sgemm_seconds = batches or (1, 2), 0.1
    if args.artifact_dir and len(models) > 1:
        raise SystemExit("--artifact-dir benchmarks one artifact: pass at most one --model (used as its label)")
    models = models or ((str(args.artifact_dir),) if args.artifact_dir else (DEFAULT_MODEL,))
    output_dir = args.output_dir.resolve()
    return Settings(
        models=models, backends=args.backends, batch_sizes=batches, threads=threads, plan=plan,
        output_dir=output_dir, cache_dir=(args.cache_dir or output_dir / "cache").resolve(),
        artifact_dir=args.artifact_dir.resolve() if args.artifact_dir else None, quick=args.quick,
        sgemm_seconds=sgemm_seconds, results_md=args.results_md,
        int8_mode=args.int8_mode,
    )


def main(argv: list[str] | None = None) -> int:
    settings = settings_from_args(build_parser().parse_args(argv))
    results, paths = run_suite(settings)
    print(printed_summary(results))
    print("\n" + "\n".join(f"{kind}: {path}" for kind, path in paths.items()))
    failed = [name for model in results["models"] for name, r in model["backends"].items() if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
