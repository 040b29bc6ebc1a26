"""``beit-run ARTIFACT IMAGE...``: try an exported artifact on image files without writing code.

- image-classification: prints the top-k labels and scores of every image (``--json`` for JSON);
- backbone: prints each image's pooled embedding size and norm; ``--output DIR`` saves NAME.npy;
- masked-image-modeling: prints the predicted visual tokens of each image with no patch masked;
- semantic-segmentation: prints the classes found; ``--output DIR`` writes NAME.png, the colour overlay
  above a legend of the classes present, and with ``--side-by-side`` also NAME.side-by-side.png, the
  image and the overlay next to each other above the legend. (A folder run's ``--output`` holds label maps
  instead: ``beit_runtime.bulk``.)

Image files are decoded as ``beit_runtime.images.load_image`` does (EXIF orientation applied), each once; one
that does not decode gets an error line on stderr (with ``--json`` also a JSON line on stdout: "image", "error",
"reason", as a folder run's errors.jsonl), the others their results, and the exit code is 3. A URL or "-" among the
images is a usage error (exit 2): files only. Every output path is checked before any image runs: one over an
input, or shared by two inputs, is a usage error (exit 2), and so is an artifact that cannot be used as given (no
or unreadable manifest.json, a file it needs missing or changed, a precision it lacks), before any image runs. A
missing optional dependency (the backend asked for) is exit 5, as for beit-export (``beit_runtime.exit_codes``).
When the reader of stdout goes away (``beit-run ... | head -1``) it stops quietly with exit 141 (128 + SIGPIPE,
as a Unix tool killed by SIGPIPE), no traceback.
``--precision auto`` runs what this machine's plan chose (``--verbose`` says what and why).
Subcommands: ``beit-run evaluate`` and ``beit-run tune`` (``beit_runtime.commands``).
A folder among the inputs (or ``--ray``) makes a folder run: ``beit_runtime.bulk.command``.
A served model in place of the artifact (``http://HOST:PORT/NAME``) runs there: ``beit_runtime.served_run``.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from .argument_types import (
    artifact_folder_argument,
    image_file_argument,
    path_argument,
    positive_number,
    thread_number,
)
from .bulk.command import add_folder_arguments, report_error, report_failure, run_folder_command
from .commands import SUBCOMMANDS
from .engines import BACKENDS, backend_for_precision
from .errors import ArtifactError, BeitDeployError, InputError
from .exit_codes import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, EXIT_USAGE
from .file_reports import report
from .model_base import ArtifactModel, task_class
from .options import AUTO_PRECISION, PRECISIONS, RunOptions, positive_int
from .planning.apply import named_plan
from .remote.connect import is_served_model
from .run_checks import check_run_flags, checked_request
from .served_run import SERVER_TIMEOUT_S, run_served

# what --output holds: not the same files for image files named alone and for a folder run
_OUTPUT_HELP = ("image files named alone: NAME.npy per image (backbone: its pooled embedding) or NAME.png "
                "(segmentation: the colour overlay above a legend); a folder run: DIR/results.jsonl and "
                "DIR/errors.jsonl, plus DIR/<path>.png label maps (segmentation: grayscale class ids; --overlays "
                "adds DIR/<path>.overlay.png) or DIR/embeddings/ shards (backbone)")


def _artifact_or_served_model(text: str) -> str:
    return text if is_served_model(text) else str(artifact_folder_argument(text))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="beit-run", description="Run an exported BEiT/ViT artifact on images.",
        epilog="subcommands: `beit-run evaluate ARTIFACT --data DIR` measures accuracy (or mIoU) of every "
               "variant on your labelled images; `beit-run tune ARTIFACT` times them on this machine and writes "
               "the plan --precision auto follows (each has its own --help)")
    parser.add_argument("artifact", type=_artifact_or_served_model,
                        help="artifact folder (holds manifest.json), or a served model: "
                                         "http://HOST:PORT/NAME or grpc://HOST:PORT/NAME (beit-serve)")
    parser.add_argument("images", nargs="+", type=image_file_argument,
                        help="image files (JPEG, PNG, ...) or folders of them (a folder run: see below)")
    parser.add_argument("--top-k", type=int, default=5, help="predictions per image (classification; default 5)")
    parser.add_argument("--precision", choices=(*PRECISIONS, AUTO_PRECISION), default="fp32",
                        help="graph variant to run (default fp32); auto: this machine's plan (beit-run tune)")
    parser.add_argument("--plan", type=path_argument, default=None, help="with --precision auto: this plan file")
    parser.add_argument("--verbose", action="store_true", help="print the variant run and why it was chosen")
    parser.add_argument("--backend", choices=BACKENDS, default="auto", help="inference backend (default auto)")
    parser.add_argument("--threads", type=thread_number, default=0,
                        help="inference threads for ONNX Runtime / OpenVINO (default 0: the library's choice)")
    parser.add_argument("--batch-size", type=int, default=8, help="images per engine call (default 8)")
    parser.add_argument("--output", type=path_argument, default=None, metavar="DIR", help=_OUTPUT_HELP)
    parser.add_argument("--overwrite", action="store_true",
                        help="replace files --output / --attention-maps already hold (refused otherwise)")
    parser.add_argument("--side-by-side", action="store_true",
                        help="segmentation: also write NAME.side-by-side.png (image | overlay, with the legend)")
    parser.add_argument("--json", action="store_true", help="print results as JSON lines")
    parser.add_argument("--attention-maps", type=path_argument, default=None, metavar="DIR",
                        help="backbone/classification artifacts exported with --outputs attentions: write each "
                             "image's CLS attention per head (NAME.headI.png) and their mean (NAME.mean.png)")
    parser.add_argument("--attention-layer", type=int, default=None,
                        help="encoder layer of --attention-maps (default -1: the last); needs --attention-maps")
    parser.add_argument("--server-timeout", type=positive_number, default=None, metavar="S",
                        help="with a served model: seconds to wait for it to be ready, and for each answer "
                             f"(default {SERVER_TIMEOUT_S:g})")
    add_folder_arguments(parser)
    return parser


def _run_options(args: argparse.Namespace) -> RunOptions:
    """The task class's run options from the arguments; InputError naming the flag when one is wrong."""
    check_run_flags(args)
    if args.plan is not None and args.precision != AUTO_PRECISION:
        raise InputError(f"--plan is read by --precision {AUTO_PRECISION} only: add --precision {AUTO_PRECISION} "
                         "(or drop --plan)")
    if args.plan is not None:
        named_plan(args.plan, artifact=args.artifact)
    backend_for_precision(args.precision, args.backend)  # a usage error here, before the model loads
    return RunOptions(precision=args.precision, backend=args.backend, plan=args.plan,
                      batch_size=positive_int("--batch-size", args.batch_size),
                      intra_op_threads=args.threads)


def _run(args: argparse.Namespace, options: RunOptions, task_name: str) -> int:
    model: ArtifactModel
    try:
        model = task_class(task_name)(args.artifact, options=options)
    except (InputError, ArtifactError) as error:  # the artifact cannot run as asked: a usage error, before any image
        return report_error(error, exit_code=EXIT_USAGE)
    with model:
        if args.verbose:
            print(f"running {model.backend} {model.precision} ({model.choice})", file=sys.stderr)
        return report(args, model, task_name)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    # Pillow warns about a corrupt TIFF's tags (UserWarning, with its source line) before it fails to open it: the
    # error line says what failed, so those warnings would only put library paths above it
    warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
    try:
        code = _dispatch(arguments)
        sys.stdout.flush()  # a reader gone away shows here, not in the interpreter's flush at exit
    except BrokenPipeError:
        return _stdout_closed()
    return code


def _dispatch(arguments: list[str]) -> int:
    if arguments and arguments[0] in SUBCOMMANDS:  # beit-run evaluate / tune
        return SUBCOMMANDS[arguments[0]](arguments[1:])
    try:
        return _main(arguments)
    except KeyboardInterrupt:  # a folder run says what it kept itself; image files named alone keep nothing
        print("\nbeit-run: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _stdout_closed() -> int:
    """EXIT_BROKEN_PIPE, quietly, once the reader of stdout went away (``beit-run ... | head -1``): stdout is
    pointed at os.devnull so that what is still buffered goes nowhere instead of raising again at exit (Python's
    "Note on SIGPIPE")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a file (replaced by a caller): nothing is flushed at exit
        pass
    return EXIT_BROKEN_PIPE


def _main(arguments: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(arguments)
    if is_served_model(args.artifact):
        return run_served(args, parser=parser, report=partial(report, served=True))
    args.artifact = Path(args.artifact)
    if args.server_timeout is not None:
        return report_error(InputError("--server-timeout applies to a served model (http://HOST:PORT/NAME); "
                                       f"{args.artifact} is a folder: drop it"), exit_code=EXIT_USAGE)
    folder_exit = run_folder_command(args, run_options=_run_options)  # None: image files named alone
    if folder_exit is not None:
        return folder_exit
    try:
        options = _run_options(args)
        task_name = checked_request(args)
    except (InputError, ArtifactError) as error:  # ArtifactError: no manifest.json, or one that cannot be read
        return report_error(error, exit_code=EXIT_USAGE)
    except BeitDeployError as error:
        return report_failure(error)
    try:
        return _run(args, options, task_name)
    except BeitDeployError as error:
        return report_failure(error)


if __name__ == "__main__":
    sys.exit(main())
