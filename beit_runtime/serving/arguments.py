"""beit-serve's option types and the checks across options: ports, durations, ports that collide."""

from __future__ import annotations

import argparse
import math

from ..errors import ServeOptionError

MAX_PORT = 65535


def port(text: str, *, low: int = 0) -> int:
    """argparse type: a TCP port number from ``low`` to 65535."""
    try:
        number = int(text)
    except ValueError:
        number = -1
    if not low <= number <= MAX_PORT:
        free = " (0: any free port)" if low == 0 else ""
        raise argparse.ArgumentTypeError(f"expected a port number {low}-{MAX_PORT}{free}, got {text!r}")
    return number


def metrics_port(text: str) -> int:
    return port(text, low=1)


def seconds(text: str) -> float:
    """argparse type: a finite number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {text!r}")
    return value


def check_distinct_ports(args: argparse.Namespace) -> None:
    """ServeOptionError when two of the server's ports are the same number (0, any free port, excepted)."""
    chosen = [(flag, number) for flag, number in (("--http-port", args.http_port), ("--grpc-port", args.grpc_port),
                                                ("--metrics-port", args.metrics_port)) if number]
    for index, (flag, number) in enumerate(chosen):
        for other, other_number in chosen[index + 1:]:
            if number == other_number:
                raise ServeOptionError(f"{flag} and {other} are both {number}; give each its own port "
                                       "(0: any free one)")
