"""``beit-run evaluate ARTIFACT --data DIR``: accuracy of every engine x precision variant on labelled images.

Classification data is one folder per class, named as the artifact's labels or by class id (ImageFolder
layout);
segmentation data is ``DIR/images/NAME.ext`` with ``DIR/masks/NAME.png`` (class ids, 255 ignored;
``--reduce-labels`` as BeitImageProcessor's ``do_reduce_labels``); a backbone's data is any folder of images,
its embeddings scored against fp32's (the same nearest neighbour among the first 256 images, and cosine
similarity). Prints a table (``--json``: one JSON
object per variant); ``--output DIR`` also writes a Markdown report and a plot of accuracy against speed,
and keeps ``DIR/evaluation-state.json`` up to date after every batch: a run that was killed or interrupted
goes on from there when the same command runs again. Progress goes to stderr (a bar on a terminal).
Exit codes: 0 measured, 1 runtime error, 2 bad data or options, 5 no variant of the --backend or --precision
asked for can run here for want of an optional dependency (the extra that installs it is named), 130
interrupted (Ctrl-C). With the default --backend all, a variant that cannot run is a row saying why.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence

from ..argument_types import path_argument, positive_integer
from ..errors import InputError
from ..evaluation import EvaluationOptions, EvaluationReport, evaluate
from ..evaluation.checkpoint import STATE_FILE
from ..evaluation.report import json_lines, table, write_report
from ..evaluation.variants import ENGINE_BACKENDS, PRECISION_ORDER
from ..exit_codes import EXIT_OK
from ..output_files import output_folder
from .common import run_reporting_errors, subcommand_parser

PROG = "beit-run evaluate"


def build_parser() -> argparse.ArgumentParser:
    parser = subcommand_parser(PROG, __doc__, served_hint="evaluate the artifact it was exported from "
                               "(`beit-run evaluate ARTIFACT --data DIR`); `beit-run URL IMAGE...` runs the "
                               "served model")
    add = parser.add_argument
    add("--data", type=path_argument, required=True, help="labelled images, or any images for a backbone (see above)")
    add("--backend", choices=("all", *ENGINE_BACKENDS), default="all", help="engines to measure (default all)")
    add("--precision", choices=("all", *PRECISION_ORDER), default="all", help="precisions to measure (default all)")
    add("--reduce-labels", action="store_true", help="segmentation: 0 is 'other' (ignored), ids shift down by one")
    add("--limit", type=positive_integer, default=None,
        help="evaluate N images only, spread over every class folder or scene (by SHA-256 of their names)")
    add("--json", action="store_true", help="one JSON object per variant instead of the table")
    add("--output", type=path_argument, default=None,
        help=f"write evaluation.md and accuracy-vs-speed.png here, and keep the run's state in {STATE_FILE} (a "
        "rerun goes on from it)")
    return parser


def _evaluate(args: argparse.Namespace, options: EvaluationOptions) -> EvaluationReport:
    """``evaluate``, with ``--output`` checked before any inference and holding the run's state."""
    if args.output is not None:
        if args.data.is_dir() and args.output.resolve() == args.data.resolve():
            raise InputError(f"--output {args.output} is the --data folder: its report and plot would be read as "
                             "images; pass another folder (one inside --data is skipped when reading the data)")
        options = dataclasses.replace(options, checkpoint=args.output / STATE_FILE)
        with output_folder(args.output, option="--output"):  # removed again if the run stops before writing
            return evaluate(args.artifact, args.data, options=options)
    return evaluate(args.artifact, args.data, options=options)


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    options = EvaluationOptions(backend=args.backend, precision=args.precision, batch_size=args.batch_size,
                                threads=args.threads, reduce_labels=args.reduce_labels, limit=args.limit)
    kept = ("nothing was kept (--output DIR keeps the run's state, and a rerun goes on from it)" if args.output is None
            else f"rerun the same command to go on from {args.output / STATE_FILE}")
    report, code = run_reporting_errors(PROG, lambda: _evaluate(args, options), interrupted=kept)
    if report is None:
        return code
    print(json_lines(report) if args.json else table(report))
    if report.selection:
        print(f"measured {report.selection}", file=sys.stderr)
    if args.output is None:
        return EXIT_OK
    written, code = run_reporting_errors(PROG, lambda: write_report(report, args.output), interrupted=kept)
    if written is not None:
        print(f"wrote {written}", file=sys.stderr)
    return code
