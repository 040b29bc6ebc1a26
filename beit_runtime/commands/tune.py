"""``beit-run tune ARTIFACT [--data DIR]``: time every variant here, measure its accuracy, write this machine's plan.

The plan picks the fastest variant whose accuracy drop from fp32 is at most ``--max-drop`` points and
that is faster than fp32 in at least three rounds out of four here; a variant slower than fp32 on this
machine is never picked. Accuracy: labelled ``--data`` (ImageFolder / images+masks): top-1 or mIoU;
``--unlabelled`` data: agreement with fp32 (a backbone's data is always any folder of images: the share
of images whose nearest neighbour is fp32's); no data: the exporter's parity agreement. The plan goes to
the user cache (or ``--plan PATH``), and ``precision="auto"`` / ``beit-run --precision auto`` follow it
on this machine only.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from ..argument_types import integer_at_least, non_negative_number, path_argument, positive_integer
from ..exit_codes import EXIT_OK, EXIT_USAGE
from ..output_files import checked_file
from ..planning.machine import describe
from ..planning.plan import Plan
from ..planning.tune import MIN_ROUNDS, TuneOptions, tune
from .common import run_reporting_errors, subcommand_parser

PROG = "beit-run tune"


def build_parser() -> argparse.ArgumentParser:
    parser = subcommand_parser(PROG, __doc__, served_hint="run `beit-run tune ARTIFACT --plan plan.json` on the "
                               "serving machine, then `beit-export triton ARTIFACT --model-backend python "
                               "--precision auto --plan plan.json`")
    add = parser.add_argument
    add("--data", type=path_argument, default=None,
        help="images to measure accuracy on (labelled unless --unlabelled or a backbone)")
    add("--unlabelled", action="store_true", help="--data is any folder of images: measure agreement with fp32")
    add("--max-drop", type=non_negative_number, default=1.0,
        help="accuracy points a variant may lose against fp32 (default 1)")
    add("--rounds", type=partial(integer_at_least, minimum=MIN_ROUNDS), default=7,
        help=f"interleaved timing rounds (default 7, at least {MIN_ROUNDS})")
    add("--limit", type=positive_integer, default=256,
        help="images measured for accuracy, spread over every class folder or scene (default 256)")
    add("--plan", type=path_argument, default=None, help="write the plan here (default: the user cache)")
    return parser


def _summary(plan: Plan, path: Path) -> str:
    lines = [f"machine: {describe(plan.machine)}", f"accuracy: {plan.accuracy_source}",
             f"{'variant':<22}{'x fp32 [IQR]':>22}{'drop (points)':>15}  note"]
    for row in plan.rows:
        speed = (f"{row.speedup['median']:.2f} [{row.speedup['q1']:.2f}-{row.speedup['q3']:.2f}]"
                 if row.speedup else "-")
        measured = row.speedup and not math.isnan(row.drop_points)  # an unavailable variant has neither
        drop = f"{row.drop_points:.2f}" if measured else "-"
        lines.append(f"{row.name:<22}{speed:>22}{drop:>15}  {row.note or ('eligible' if row.eligible else '')}")
    lines += [f"chosen: {plan.chosen_backend} {plan.chosen_precision} ({plan.reason})", f"plan written to {path}"]
    return "\n".join(lines)


def _tune(artifact: Path, *, options: TuneOptions) -> tuple[Plan, Path]:
    """``tune``, with ``--plan`` checked before any measurement."""
    if options.plan_path is not None:
        checked_file(options.plan_path, option="--plan")
    return tune(artifact, options=options)


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    if args.unlabelled and args.data is None:
        print(f"{PROG}: error: --unlabelled describes --data: pass --data DIR too", file=sys.stderr)
        return EXIT_USAGE
    result, code = run_reporting_errors(PROG, lambda: _tune(args.artifact, options=TuneOptions(
        data=args.data, labelled=not args.unlabelled, max_drop=args.max_drop, batch_size=args.batch_size,
        rounds=args.rounds, threads=args.threads, limit=args.limit, plan_path=args.plan)),
        interrupted="no plan was written")
    if result is None:
        return code
    plan, path = result
    print(_summary(plan, path))
    return EXIT_OK
