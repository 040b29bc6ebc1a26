"""What the ``beit-run`` subcommands share: their parser's shape and how errors and Ctrl-C become exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

from ..argument_types import artifact_folder_argument, positive_integer, thread_number
from ..errors import BeitDeployError, DatasetError, ImageError, InputError, OutputWriteError
from ..exit_codes import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, failure_exit
from ..remote.connect import is_served_model

_Result = TypeVar("_Result")


def subcommand_parser(prog: str, description: str | None, *, served_hint: str) -> argparse.ArgumentParser:
    """A parser with the artifact argument and the options every subcommand has (--batch-size, --threads).
    ``served_hint``: what to do instead when the artifact given is a served model's address (a usage error)."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("artifact", type=partial(_artifact_folder, served_hint=served_hint), help="artifact folder")
    parser.add_argument("--batch-size", type=positive_integer, default=8, help="images per call (default 8)")
    parser.add_argument("--threads", type=thread_number, default=0,
                        help="inference threads (default 0: the library's choice)")
    return parser


def _artifact_folder(text: str, *, served_hint: str) -> Path:
    if is_served_model(text):
        raise argparse.ArgumentTypeError(f"{text} is a served model; this command measures the engines of an "
                                         f"artifact folder on this machine: {served_hint}")
    return artifact_folder_argument(text)


def run_reporting_errors(prog: str, work: Callable[[], _Result], *,
                         interrupted: str = "nothing was written") -> tuple[_Result | None, int]:
    """(``work()``, EXIT_OK), or (None, EXIT_USAGE) for bad data or options, (None, EXIT_DEPENDENCY) for a missing
    optional dependency (``BackendUnavailableError``), (None, EXIT_ERROR) for other beit-deploy errors, with the
    error printed on stderr as ``prog: error: ...``; Ctrl-C: (None, EXIT_INTERRUPTED) and ``prog: interrupted;
    <interrupted>`` (what is kept, how to go on) instead of a traceback."""
    try:
        return work(), EXIT_OK
    except OutputWriteError as error:
        print(f"{prog}: error: {error}; {interrupted}", file=sys.stderr)
        return None, EXIT_ERROR
    except BeitDeployError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        # an ImageError is an InputError too, but an image the work failed on is not bad usage: failure_exit
        usage = isinstance(error, (DatasetError, InputError)) and not isinstance(error, ImageError)
        return None, EXIT_USAGE if usage else failure_exit(error)
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted; {interrupted}", file=sys.stderr)
        return None, EXIT_INTERRUPTED
