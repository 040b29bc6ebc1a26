"""What the ``beit-run`` subcommands share: their parser's shape and how errors become exit codes."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..errors import BeitDeployError, DatasetError, InputError

_Result = TypeVar("_Result")


def positive(text: str) -> int:
    """argparse type: a whole number >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def non_negative(text: str) -> int:
    """argparse type: a whole number >= 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text}")
    return value


def non_negative_finite(text: str) -> float:
    """argparse type: a finite number >= 0 ("nan", "inf" and negatives refused)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def subcommand_parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    """A parser with the artifact argument and the options every subcommand has (--batch-size, --threads)."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("artifact", type=Path, help="artifact folder")
    parser.add_argument("--batch-size", type=positive, default=8, help="images per call (default 8)")
    parser.add_argument("--threads", type=non_negative, default=0,
                        help="inference threads (default 0: the library's choice)")
    return parser


def run_reporting_errors(prog: str, work: Callable[[], _Result]) -> tuple[_Result | None, int]:
    """(``work()``, 0), or (None, 2) for bad data or options, (None, 1) for other beit-deploy errors, with the
    error printed on stderr as ``prog: error: ...``."""
    try:
        return work(), 0
    except BeitDeployError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return None, 2 if isinstance(error, (DatasetError, InputError)) else 1
