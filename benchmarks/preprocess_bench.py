"""Runtime preprocessing vs transformers' PIL image processor on scikit-image's sample photos, from decoded
photos and from files, in interleaved rounds (``benchmarks.harness.preprocessing``).

    python -m benchmarks.preprocess_bench --recipe beit-base-224 --rounds 30
    python -m benchmarks.preprocess_bench --floor [--write-results]   # vs Pillow's resize (issue 20)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from benchmarks.harness.preprocessing import (
    RECIPES,
    describe_photos,
    hf_processor,
    measure,
)
from benchmarks.workload.jobs import TimingPlan
from benchmarks.workload.photos import write_photos


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.preprocess_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="beit-base-224")
    parser.add_argument("--rounds", type=int, default=30, help="interleaved rounds per starting point (default 30)")
    parser.add_argument("--copies", type=int, default=2, help="the 6 sample photos repeated this often (default 2)")
    parser.add_argument("--serial", action="store_true", help="run the runtime without its thread pool")
    parser.add_argument("--photos", type=Path, default=None, help="folder for the sample photos (default: temporary)")
    parser.add_argument("--json", action="store_true", help="print the full result as JSON")
    parser.add_argument("--floor", action="store_true",
                        help="time the runtime against Pillow's own resize (one thread) for the 224 and 640 recipes")
    parser.add_argument("--write-results", action="store_true",
                        help=f"with --floor: write {FLOOR_RESULTS.name} and its block in RESULTS.md")
    return parser


FLOOR_RESULTS = Path(__file__).parent / "RESULTS-preprocess-floor.json"
FLOOR_RECIPES = ["beit-base-224", "beit-ade-640", "deit-base-224"]
BEGIN, END = "<!-- preprocess-floor:begin -->", "<!-- preprocess-floor:end -->"


def run_floor(args: argparse.Namespace) -> int:
    import numpy as np
    from PIL import Image

    from benchmarks.harness.preprocess_floor import floor_result, floor_table

    with tempfile.TemporaryDirectory() as scratch:
        arrays = [np.asarray(Image.open(path).convert("RGB")) for path in write_photos(args.photos or Path(scratch))]
    result = floor_result(FLOOR_RECIPES, arrays, rounds=args.rounds)
    block = floor_table(result)
    print(block, end="")
    if args.write_results:
        FLOOR_RESULTS.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        from benchmarks.report.blocks import replace_block

        replace_block(FLOOR_RESULTS.parent / "RESULTS.md", begin=BEGIN, end=END, body=block,
                      title="Preprocessing floor")
    return 0


def main(argv: list[str] | None = None) -> int:
    from beit_runtime.preprocess import Preprocessor

    args = build_parser().parse_args(argv)
    if args.floor:
        return run_floor(args)
    family, recipe = RECIPES[args.recipe]
    ours, theirs = Preprocessor.from_manifest(recipe), hf_processor(family, recipe)
    plan = TimingPlan(iterations=args.rounds, warmup=3, time_limit_s=300.0)
    with tempfile.TemporaryDirectory() as scratch:
        photos = write_photos(args.photos or Path(scratch)) * args.copies
        info = describe_photos(photos, parallel=not args.serial)
        results = [measure(ours, theirs, photos, start=start, plan=plan, parallel=not args.serial,
                           std=recipe["image_std"]) for start in ("decoded", "files")]
    print(f"CPU: {info['cpu']}; runtime pool threads: {info['pool_threads']}; recipe {args.recipe}; "
          f"{len(photos)} photos: {', '.join(info['images'])}")
    for result in results:
        print(f"{result['start']:>8}: transformers {result['transformers_pil']['p50_ms']:.1f} ms, beit_runtime "
              f"{result['beit_runtime']['p50_ms']:.1f} ms (p50 per list); speed-up {result['speedup']}x "
              f"(IQR {result['speedup_iqr'][0]}-{result['speedup_iqr'][1]}, {result['rounds']} rounds); "
              f"max difference {result['max_diff_8bit_levels']} levels")
    if args.json:
        print(json.dumps({**info, "recipe": args.recipe, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
