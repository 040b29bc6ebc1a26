"""Progress of a long run (a folder run, an evaluation): a tqdm bar (images/s, ETA) on a terminal, plain lines
otherwise.

Plain lines (logs, CI, files) read "beit-run: 120/2000 images (1 failed), 35.2 images/s, ETA 0:00:53",
one at most every ``every_s`` seconds and one at the end. Nothing is shown before the first result (the bar is
drawn then), so a run that fails while starting up, or has nothing to do, shows no "0/N images". ``initial``:
images an earlier, killed run already did (a resumed run): they count towards the total, not towards this run's
rate. Once a second result has come, the rate and ETA count from the first one, so the start-up (a model loading,
Ray starting its actors) does not stretch the ETA of a run that then goes fast. ``unit``: what is counted when it
is not images (``tune`` counts its timing rounds).
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from typing import IO, Any

PROGRESS_MODES = ("auto", "bar", "lines", "off")


class Progress:
    """Counts images done and failed; shows them as ``mode`` says ("auto", "bar", "lines", "off")."""

    def __init__(self, total: int, *, mode: str = "auto", stream: IO[str] | None = None, every_s: float = 10.0,
                 label: str = "beit-run", initial: int = 0, unit: str = "images") -> None:
        if mode not in PROGRESS_MODES:
            raise ValueError(f"mode must be one of {PROGRESS_MODES}, got {mode!r}")
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.every_s = every_s
        self.label = label
        self.initial = initial
        self.unit = unit
        self.done = initial
        self.failed = 0
        self._started = time.monotonic()
        self._shown = self._started
        self._first: tuple[float, int] | None = None  # (when, count) at the first result: the steady rate's start
        if mode == "auto":
            mode = "bar" if self.stream.isatty() else "lines"
        self.mode = mode
        self._bar: Any = None

    def advance(self, count: int, *, failed: int = 0) -> None:
        if self.mode == "bar" and self._bar is None:
            self._bar = self._new_bar()
        self.done += count
        if self._first is None:
            self._first = (time.monotonic(), self.done)
        self.failed += failed
        if self._bar is not None:
            self._bar.update(count)
            if failed:
                self._bar.set_postfix(failed=self.failed)
        elif self.mode == "lines" and time.monotonic() - self._shown >= self.every_s:
            self._line()

    def note(self, text: str) -> None:
        """One line of text beside the progress (above a bar); nothing when the mode is "off"."""
        if self._bar is not None:
            self._bar.write(f"{self.label}: {text}", file=self.stream)
        elif self.mode != "off":
            print(f"{self.label}: {text}", file=self.stream, flush=True)

    def close(self) -> None:
        """The last line (or the bar closed); nothing when no result came (a failed start-up, nothing to do)."""
        if self._bar is not None:
            self._bar.close()
        elif self.mode == "lines" and self._first is not None:
            self._line()

    def _new_bar(self) -> Any:
        from tqdm import tqdm

        unit = "img" if self.unit == "images" else self.unit.rstrip("s")
        return tqdm(total=self.total, initial=self.initial, unit=unit, file=self.stream, dynamic_ncols=True,
                    desc=self.label)

    def _line(self) -> None:
        now = time.monotonic()
        self._shown = now
        since, counted = (self._started, self.initial)
        if self._first is not None and self.done > self._first[1]:
            since, counted = self._first
        rate = (self.done - counted) / max(now - since, 1e-9)
        left = (self.total - self.done) / rate if rate > 0 else 0.0
        failed = f" ({self.failed} failed)" if self.failed else ""
        speed = (f", {rate:.1f} {self.unit}/s, ETA {timedelta(seconds=round(left))}" if self.done > self.initial
                 else "")
        print(f"{self.label}: {self.done}/{self.total} {self.unit}{failed}{speed}", file=self.stream, flush=True)
