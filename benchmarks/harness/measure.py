"""Latency statistics and the progress line on stderr."""

from __future__ import annotations

import sys

import numpy as np


class Progress:
    """One self-overwriting status line on stderr (a plain line per update when not a TTY)."""

    def __init__(self, prefix: str, *, stream=None) -> None:
        self.prefix = prefix
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def update(self, message: str) -> None:
        text = f"[bench] {self.prefix} {message}"
        if self.tty:
            self.stream.write("\r\033[K" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def done(self, message: str) -> None:
        self.update(message)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def latency_stats(times: list[float], *, batch: int) -> dict[str, float]:
    """p50/p90/p99/mean/min in milliseconds, throughput (images/s at p50) and the sample count."""
    values = np.asarray(times, dtype=np.float64) * 1e3
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {
        "p50_ms": round(float(p50), 3),
        "p90_ms": round(float(p90), 3),
        "p99_ms": round(float(p99), 3),
        "mean_ms": round(float(values.mean()), 3),
        "min_ms": round(float(values.min()), 3),
        "iterations": int(values.size),
        "throughput_ips": round(batch * 1e3 / float(p50), 3),
    }
