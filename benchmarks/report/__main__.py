"""``python -m benchmarks.report --readme``: write README's figures (parity and speed) from the stored results.

``--check`` writes nothing and exits 1 when one of README's blocks differs from what ``--readme`` would write.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from beit_runtime.errors import InputError

from .readme import README, StoredResults, stale_blocks, write_readme


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__.split("\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--readme", action="store_true", help="rewrite the figures block of README.md")
    action.add_argument("--check", action="store_true", help="exit 1 when README's figures differ from the results")
    parser.add_argument("--readme-path", type=Path, default=README, help=f"the README to write (default {README})")
    parser.add_argument("--results-dir", type=Path, default=README.parent / "benchmarks",
                        help="folder of RESULTS.json, RESULTS-seg640.json, RESULTS-serving.json, RESULTS-parity.json, "
                             "RESULTS-gpu.json (default benchmarks/)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except InputError as error:
        print(f"python -m benchmarks.report: {error}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    stored = StoredResults.load(args.results_dir)
    if args.check:
        stale = stale_blocks(args.readme_path.read_text(encoding="utf-8"), stored)
        for begin in stale:
            print(f"{args.readme_path}: the block {begin.split(':')[0]} --> differs from {args.results_dir}; run "
                  "`python -m benchmarks.report --readme`", file=sys.stderr)
        if stale:
            return 1
        return 0
    changed = write_readme(args.readme_path, stored)
    print(f"{args.readme_path}: figures {'rewritten' if changed else 'already current'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
