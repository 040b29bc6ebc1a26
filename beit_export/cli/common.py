"""What the ``beit-export`` subcommands share: the program name, progress lines, argument parsing."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

PROG = "beit-export"


class Progress:
    """Progress lines on stderr, prefixed with the seconds since the command started (``quiet``: none)."""

    def __init__(self, *, quiet: bool) -> None:
        self.quiet, self.start = quiet, time.monotonic()

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(f"[{PROG} {time.monotonic() - self.start:7.1f}s] {message}", file=sys.stderr, flush=True)


def parse(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace | int:
    """The parsed arguments, or the exit code of --help (0) / a usage error (2) without exiting the caller."""
    try:
        return parser.parse_args(list(argv))
    except SystemExit as exit_:
        return int(exit_.code or 0)


def size_argument(text: str) -> tuple[int, int]:
    """argparse type for HEIGHTxWIDTH (positive)."""
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        height = width = 0
    if height < 1 or width < 1:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH of positive sizes such as 224x320, got {text!r}")
    return height, width
