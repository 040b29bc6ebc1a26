"""`beit-run tune` on a real-sized model, kept per machine: which variant this CPU's plan picks (issue 17).

Exports the model (random weights, the hub checkpoint's architecture) with fp16 and static int8 into
the benchmark cache once, runs ``beit_runtime.planning.tune`` on it (no data: accuracy is the agreement
the exporter measured against PyTorch; timing: the user's call, interleaved rounds) and records the
plan's rows and choice with the CPU model and flags. ``RESULTS-tune.json`` keeps one entry per CPU: a
run on another CPU adds its entry, a rerun on the same CPU replaces its own. ``--write-results`` also
regenerates the tune block of benchmarks/RESULTS.md from that file.

``python -m benchmarks.tune_evidence [--quick] [--rounds 7] [--write-results [PATH]]``. Needs a quiet
machine for figures; ``--quick`` (tiny-beit, 4 rounds: tune's least) is the smoke test.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path
from typing import Any

from beit_runtime.output_files import write_atomically
from benchmarks.int8_options import cpu_record
from benchmarks.report.blocks import replace_block
from benchmarks.report.tune import BEGIN, END, render
from benchmarks.workload.prepare import prepare_model

DEFAULT_MODEL = "microsoft/beit-base-patch16-224"
DEFAULT_RESULTS = Path(__file__).with_name("RESULTS-tune.json")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--model", help=f"preset id, random init (default {DEFAULT_MODEL}; tiny-beit with --quick)")
    add("--quick", action="store_true", help="smoke test: tiny-beit, 4 rounds")
    add("--rounds", type=int, help="interleaved timing rounds (default 7; 4 with --quick; at least 4)")
    add("--batch-size", type=int, default=8, help="images per call (default 8)")
    add("--threads", type=int, default=2, help="intra-op threads (default 2)")
    add("--cache-dir", type=Path, default=Path("benchmarks/out/cache"))
    add("--write-results", nargs="?", type=Path, const=DEFAULT_RESULTS,
        help=f"merge this machine's entry into the JSON (default {DEFAULT_RESULTS.name} in benchmarks/) and "
             "regenerate the RESULTS.md block next to it")
    return parser


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """This machine's entry: the CPU, the settings and the plan ``tune`` wrote."""
    from beit_runtime.planning.tune import MIN_ROUNDS, TuneOptions, tune

    model = args.model or ("tiny-beit" if args.quick else DEFAULT_MODEL)
    rounds = args.rounds or (MIN_ROUNDS if args.quick else 7)
    if rounds < MIN_ROUNDS or args.batch_size < 1 or args.threads < 1:
        raise SystemExit(f"--rounds must be at least {MIN_ROUNDS}, --batch-size and --threads at least 1")
    info = prepare_model(model, cache_dir=args.cache_dir.resolve(), variants={"fp32", "fp16", "int8"},
                         int8_mode="static")
    with tempfile.TemporaryDirectory(prefix="tune-evidence-") as scratch:
        options = TuneOptions(batch_size=args.batch_size, rounds=rounds, threads=args.threads,
                              plan_path=Path(scratch) / "plan.json")
        plan, _ = tune(info.artifact_dir, options=options)
    record = plan.as_json()
    for row in record["rows"]:  # no accuracy figure: NaN in the plan, null in strict JSON
        row["drop_points"] = None if math.isnan(row["drop_points"]) else row["drop_points"]
    return {"model": model, "cpu": cpu_record(), "threads": args.threads, "rounds": rounds,
            "batch_size": args.batch_size, "plan": record}


def merge(results: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """``results`` with ``entry`` replacing the entry of the same CPU and model (or added)."""
    def same(other: dict[str, Any]) -> bool:
        return other["model"] == entry["model"] and other["cpu"]["model"] == entry["cpu"]["model"] and \
            other["cpu"]["family_model_stepping"] == entry["cpu"]["family_model_stepping"]

    machines = [other for other in results.get("machines", []) if not same(other)] + [entry]
    return {"speedup": "fp32 time / variant time of the user's call, per interleaved round; >1 is faster",
            "machines": machines}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    entry = measure(args)
    path: Path | None = args.write_results
    existing = json.loads(path.read_text(encoding="utf-8")) if path is not None and path.is_file() else {}
    results = merge(existing, entry)
    print(render({"machines": [entry]}), end="")
    if path is not None:
        write_atomically(path, json.dumps(results, indent=1, allow_nan=False) + "\n")  # a kill keeps the old file
        replace_block(path.with_name("RESULTS.md"), begin=BEGIN, end=END, body=render(results),
                      title="Tune: the plan each CPU picks (issue 17)")
        print(f"[tune-evidence] wrote {path} and its block in {path.with_name('RESULTS.md')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
