"""The argparse types every command line of the package uses (beit-run, beit-serve, beit-export); their exit
codes are ``beit_runtime.exit_codes``.

A value out of range becomes argparse's usage error (exit 2) naming the flag: ``argument --limit:
expected an integer >= 1, got '0'``. Floats must be finite, so "nan" and "inf" never switch a check off.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from pathlib import Path

MAX_PORT = 65535
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")  # "scheme://": https://, s3://, file://


def path_argument(text: str) -> Path:
    """A path; an empty one is refused (``--output "$OUT"`` with OUT unset would mean the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a path, got an empty string (an unset shell variable?)")
    return Path(text)


def image_file_argument(text: str) -> Path:
    """An image file or folder to read (``path_argument``); a URL and "-" (standard input) are usage errors saying
    what to do instead: beit-run reads files only."""
    if text == "-":
        raise argparse.ArgumentTypeError(
            "'-' (standard input) is not read: beit-run names each result after its image file; save the image "
            "first (e.g. `cat > image.jpg`) and pass the file")
    if _URL.match(text) and not os.path.exists(text):
        raise argparse.ArgumentTypeError(f"{text} is a URL; URLs are not fetched: download it first (e.g. `curl -o "
                                         "image.jpg URL`) and pass the file")
    return path_argument(text)


def artifact_folder_argument(text: str) -> Path:
    """An existing folder given as an artifact: a path that is not there is a usage error (exit 2) before
    anything is loaded or created, as an image file that is not there is."""
    path = path_argument(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"artifact folder {text} does not exist: pass the folder `beit-export "
                                         "--output` wrote (it holds manifest.json)")
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file: pass the artifact folder (the one holding manifest.json)")
    return path


def max_threads() -> int:
    """The most threads an option may ask for: 4 per CPU, and at least 64 (a thousand threads on two cores
    never finish, and a million exhaust memory before the first image)."""
    return max(64, 4 * (os.cpu_count() or 1))


def thread_number(text: str) -> int:
    """A number of threads: 0 (the library's choice) to ``max_threads()``."""
    value = _integer(text, minimum=0)
    if value > max_threads():
        raise argparse.ArgumentTypeError(f"expected at most {max_threads()} threads (4 per CPU, {os.cpu_count()} "
                                         f"CPUs here; 0: the library's choice), got {text!r}")
    return value


def integer_at_least(text: str, *, minimum: int) -> int:
    """An integer >= ``minimum`` (``functools.partial`` it into a type)."""
    return _integer(text, minimum=minimum)


def positive_integer(text: str) -> int:
    """An integer >= 1."""
    return _integer(text, minimum=1)


def non_negative_integer(text: str) -> int:
    """An integer >= 0."""
    return _integer(text, minimum=0)


def positive_number(text: str) -> float:
    """A finite number above 0 (seconds, GiB)."""
    value = _finite(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a finite number above 0, got {text!r}")
    return value


def non_negative_number(text: str) -> float:
    """A finite number >= 0."""
    value = _finite(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def port_number(text: str) -> int:
    """A TCP port, 0 (any free port) to 65535."""
    return _port(text, low=0)


def fixed_port_number(text: str) -> int:
    """A TCP port, 1 to 65535 (for a port that cannot be chosen by the system)."""
    return _port(text, low=1)


def _integer(text: str, *, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
    return value


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    return value if math.isfinite(value) else math.nan


def _port(text: str, *, low: int) -> int:
    try:
        number = int(text)
    except ValueError:
        number = -1
    if not low <= number <= MAX_PORT:
        free = " (0: any free port)" if low == 0 else ""
        raise argparse.ArgumentTypeError(f"expected a port number {low}-{MAX_PORT}{free}, got {text!r}")
    return number
