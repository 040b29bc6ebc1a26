"""What the ``beit-export`` subcommands share: the program name, progress lines, argument parsing."""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

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


def folder_argument(text: str) -> Path:
    """argparse type for a folder to write: an empty text (an unset shell variable) is refused, not taken
    as the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a folder path, got an empty one (is the variable that names it "
                                         "unset?)")
    return Path(text)


def size_argument(text: str) -> tuple[int, int]:
    """argparse type for HEIGHTxWIDTH (positive)."""
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        height = width = 0
    if height < 1 or width < 1:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH of positive sizes such as 224x320, got {text!r}")
    return height, width


# log lines of the libraries an export drives that say nothing to its user, by logger: torch.onnx lists the
# torchvision operators it cannot register ("torchvision is not installed. Skipping torchvision::nms")
_NOISY_LOGGERS = ("torch.onnx._internal.exporter._registration",)
# the rest, by the start of the message: torch's own deprecation inside torch.export; with --quiet, ONNX
# Runtime's quantizer advising its pre-processing pass (the int8 export does not run it: measured without)
_NOISY_WARNINGS = (r"`isinstance\(treespec, LeafSpec\)` is deprecated",)
_QUIET_ROOT_MESSAGES = ("Please consider",)


class _DropMessages(logging.Filter):
    def __init__(self, starts: tuple[str, ...]) -> None:
        super().__init__()
        self.starts = starts

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.starts)


def silence_library_noise(*, quiet: bool) -> None:
    """Silence the libraries' lines that carry no information for a beit-export user; with ``quiet``, also
    transformers' load report and ONNX Runtime's quantizer advice (errors still show)."""
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    for message in _NOISY_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=FutureWarning)
    if quiet:
        logging.getLogger().addFilter(_DropMessages(_QUIET_ROOT_MESSAGES))
        logging.getLogger("transformers").setLevel(logging.ERROR)
