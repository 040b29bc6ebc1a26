"""Round-robin timing across worker processes: every participant times one call per round, in turn.

Each backend lives in its own worker process (its memory stays its own: the peak RSS per backend
is still measured), but the timed iterations run A, B, C, A, B, C, ...: load that comes and goes on
a shared machine lands on every participant alike. The sgemm reference is one more participant.
Each participant's times per round are kept, so a ratio is computed per round (median and IQR of
the per-round ratios) instead of as a ratio of separately taken medians.

Protocol: the coordinator writes one JSON request per line to a worker's stdin and reads one JSON
reply per line from the worker's protocol pipe (``python -m benchmarks.harness.worker --serve``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import psutil

from ..workload.jobs import TimingPlan
from .measure import Progress
from .runner import REPO_ROOT, WORKER_MODULE, exit_reason, worker_environment


@dataclass
class Participant:
    """One worker process serving timed calls of one backend (or of the sgemm reference)."""

    name: str
    kind: str
    payload: dict
    threads: int
    process: subprocess.Popen | None = None
    ready: dict = field(default_factory=dict)
    peak_rss_mib: float = 0.0

    def start(self) -> dict:
        self.process = subprocess.Popen([sys.executable, "-m", WORKER_MODULE, "--serve"], cwd=REPO_ROOT,
                                        env=worker_environment(self.threads), stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        threading.Thread(target=self._sample_rss, daemon=True).start()
        self.ready = self.request({"op": "load", "kind": self.kind, "payload": self.payload})
        return self.ready

    def _sample_rss(self) -> None:
        try:
            watched = psutil.Process(self.process.pid)
            while self.process.poll() is None:
                self.peak_rss_mib = max(self.peak_rss_mib, round(watched.memory_info().rss / 2**20, 1))
                time.sleep(0.05)
        except psutil.Error:
            pass

    def request(self, message: dict) -> dict:
        if self.process is None:
            return {"error": f"the {self.name} worker is not running"}
        if self.process.poll() is not None:
            return {"error": self._exit_reason(self.process.returncode)}
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            return {"error": self._exit_reason(self.process.wait())}
        return json.loads(line)

    def _exit_reason(self, status: int | None) -> str:
        return exit_reason(f"the {self.name} worker", status, peak_mib=self.peak_rss_mib)

    @property
    def usable(self) -> bool:
        return "error" not in self.ready and "skipped" not in self.ready

    def close(self) -> dict:
        final = self.request({"op": "close"}) if self.usable else {}
        if self.process is not None:
            self.process.stdin.close()
            self.process.wait(timeout=120)
        return {**final, "peak_rss_sampled_mib": self.peak_rss_mib}


def interleaved_times(participants: list[Participant], *, batch: int, mode: str, plan: TimingPlan,
                      progress: Progress | None = None) -> dict[str, list[float]]:
    """Seconds per call of every participant that supports (batch, mode), timed round-robin."""
    active = [p for p in participants if p.usable and batch in p.ready.get("modes", {}).get(mode, [])]
    for participant in active:
        participant.request({"op": "warmup", "batch": batch, "mode": mode, "count": plan.warmup})
    times: dict[str, list[float]] = {p.name: [] for p in active}
    started = time.perf_counter()
    budget = plan.time_limit_s * max(1, len(active))
    for round_index in range(plan.iterations):
        for participant in active:
            reply = participant.request({"op": "time", "batch": batch, "mode": mode})
            if "seconds" in reply:
                times[participant.name].append(reply["seconds"])
        if progress is not None:
            progress.update(f"batch {batch} {mode}: round {round_index + 1}/{plan.iterations}")
        if time.perf_counter() - started > budget and round_index + 1 >= plan.min_iterations:
            break
    return {name: values for name, values in times.items() if values}


def start_all(participants: list[Participant], progress: Progress | None = None) -> None:
    """Load every participant, one at a time (loading is not timed against the others)."""
    for participant in participants:
        if progress is not None:
            progress.update(f"loading {participant.name}")
        participant.start()
