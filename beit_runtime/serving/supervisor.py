"""Watch a running server's python stubs and reload a model whose stub died (``beit-serve``'s main loop).

Measured with Triton 2.51: when a stub is killed from outside (the OOM killer), Triton neither restarts
it nor turns readiness false; every request to that model fails with "Stub process ... is not healthy"
(an error, never a wrong answer) and ``load`` on the still-loaded model does nothing. ``unload`` turns
readiness false at once (strict readiness); a ``load`` then starts a new stub in well under a second,
Triton reloading the ensembles that use the model with it. The dead instance itself ends in about a
second when it held no request; when it did (under load), Triton never finishes unloading it: the
reload waits ``UNLOAD_WAIT_S`` for it, then loads anyway, and the model is listed in ``stuck`` (a later
stop then waits Triton's whole exit timeout and Triton exits 1; ``beit-serve`` says so). That instance
keeps its /dev/shm region (as large as the largest batch it was sent) mapped in tritonserver until the
server exits: removing the region's name frees nothing while it is mapped (measured: /dev/shm's usage
did not change), so the memory stays taken until the server restarts.

A stub that dies while its model is being loaded again (the OOM killer striking twice) makes the load
fail ("Stub process ... is not healthy") and leaves the model and its ensembles unloaded; one that dies
right after the load leaves the model without its stub. Either way the reload is tried again, up to
``RELOAD_ATTEMPTS`` times in all, ``RETRY_DELAYS_S`` apart; after that ``reload`` raises ``ServerError``
and ``beit-serve`` stops the server and exits 1, for the orchestrator to restart it. A stub killed in
its first milliseconds, before it reports to Triton, makes Triton 2.51's load wait forever (measured:
no answer after 2 minutes): the load request then times out after ``reload_timeout_s``, which is not
retried (the server is stopped the same way; a liveness probe that wants every model READY fails first).

``Supervisor.check()``, called every ~0.2 s, compares the stubs found in ``/proc`` (``stubs``) with the
last snapshot and with the number of stubs each model had at start: for each model whose stub
disappeared it unloads the model, loads it again, reloads any model that was ready before and is not
now, waits until the server is ready with every such model READY and its stubs running, and logs
``beit-serve: stub of MODEL died; reloaded in X s`` to stderr.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import IO

from ..errors import ServerError, ServerTimeoutError
from .launcher import TritonProcess
from .stubs import stub_processes

UNLOAD_WAIT_S = 3.0
RELOAD_ATTEMPTS = 3
RETRY_DELAYS_S = (1.0, 4.0)  # before the second and the third attempt
PAUSE_STEP_S = 0.05


class Supervisor:
    """The stubs of ``server`` as last seen, and the reload of the models whose stub has gone."""

    def __init__(self, server: TritonProcess, *, reload_timeout_s: float = 120.0, log: IO[str] | None = None) -> None:
        self.server = server
        self.reload_timeout_s = reload_timeout_s
        self.log = log
        self.stubs = stub_processes(server.shm_prefix)
        self.instances = Counter(self.stubs.values())  # {model: its stubs} while every model is loaded
        self.reloads = 0
        self.stuck: set[str] = set()

    def check(self, *, cancelled: Callable[[], bool] = lambda: False) -> None:
        """Reload every model whose stub died since the last check (not when ``cancelled()``)."""
        now = stub_processes(self.server.shm_prefix)
        died = self._died(now)
        if died and not cancelled() and self.server.process.poll() is None:
            for model in died:
                self.reload(model, cancelled=cancelled)
            now = stub_processes(self.server.shm_prefix)
        self.stubs = now

    def _died(self, now: dict[int, str]) -> list[str]:
        """Models with a stub gone since the last snapshot, or with fewer stubs than at start."""
        gone = {model for pid, model in self.stubs.items() if pid not in now}
        running = Counter(now.values())
        return sorted(gone | {model for model, count in self.instances.items() if running[model] < count})

    def reload(self, model: str, *, cancelled: Callable[[], bool] = lambda: False) -> float:
        """Unload ``model`` (readiness false at once), load it again and wait until the server is ready, up to
        ``RELOAD_ATTEMPTS`` times; the seconds it took. Raises ``ServerError`` (or its ``ServerTimeoutError``)
        when it does not come back."""
        start = time.monotonic()
        ready_before = [name for name, state in self.server.model_states().items() if state == "READY"]
        for attempt in range(1, RELOAD_ATTEMPTS + 1):
            if cancelled():
                return time.monotonic() - start  # a stop was asked for: the drain unloads every model anyway
            try:
                self._reload_once(model, ready_before, cancelled=cancelled)
                break
            except (OSError, ServerError) as error:
                if cancelled() or self.server.process.poll() is not None:
                    raise
                self._retry_or_give_up(model, attempt, error, cancelled=cancelled)
        elapsed = time.monotonic() - start
        if cancelled():
            return elapsed
        self.reloads += 1
        self._say(f"stub of {model} died; reloaded in {elapsed:.1f} s")
        return elapsed

    def _retry_or_give_up(self, model: str, attempt: int, error: Exception, *, cancelled: Callable[[], bool]) -> None:
        """After a failed attempt: wait before the next one, or raise ``ServerError`` saying why there is none."""
        if _timed_out(error):
            raise ServerError(f"the stub of {model} died and reloading the model did not finish within "
                              f"{self.reload_timeout_s:.0f} s (--ready-timeout; Triton 2.51 waits forever for a new "
                              f"stub that died before it started): {error}") from error
        if attempt == RELOAD_ATTEMPTS:
            raise ServerError(f"the stub of {model} died and reloading the model failed {RELOAD_ATTEMPTS} times (the "
                              f"stub died again, or the load failed), the last: {error}") from error
        delay = RETRY_DELAYS_S[attempt - 1]
        self._say(f"reloading {model} after its stub died failed ({error}); attempt {attempt + 1} of "
                  f"{RELOAD_ATTEMPTS} in {delay:g} s")
        _pause(delay, cancelled=cancelled)

    def _reload_once(self, model: str, ready_before: list[str], *, cancelled: Callable[[], bool]) -> None:
        """One reload: unload, load, load again what was ready before, wait until ready; ``ServerError`` unless
        every model of ``ready_before`` is READY and ``model`` has its stubs."""
        start = time.monotonic()
        self.server.control(model, "unload", timeout_s=self.reload_timeout_s)
        while self.server.model_states().get(model) == "UNLOADING" and not cancelled():
            if time.monotonic() - start > UNLOAD_WAIT_S:
                self.stuck.add(model)
                break
            time.sleep(0.05)
        self.server.control(model, "load", timeout_s=self.reload_timeout_s)
        states = self.server.model_states()
        for name in ready_before:
            if states.get(name) != "READY":
                self.server.control(name, "load", timeout_s=self.reload_timeout_s)
        left = self.reload_timeout_s - (time.monotonic() - start)
        self.server.wait_ready(timeout_s=max(1.0, left), cancelled=cancelled)  # raises when it does not come back
        if cancelled():
            return
        states = self.server.model_states()
        missing = [name for name in ready_before if states.get(name) != "READY"]
        if missing:
            raise ServerError(f"{', '.join(missing)} not READY after the load")
        running = Counter(stub_processes(self.server.shm_prefix).values())[model]
        if running < self.instances[model]:
            raise ServerError(f"{model} has {running} of its {self.instances[model]} stubs after the load")

    def _say(self, message: str) -> None:
        print(f"beit-serve: {message}", file=self.log or sys.stderr, flush=True)


def _timed_out(error: BaseException) -> bool:
    """Whether ``error`` is a request or a wait that ran out of time (no point in asking again)."""
    reason = getattr(error, "reason", None)
    return isinstance(error, (TimeoutError, ServerTimeoutError)) or isinstance(reason, TimeoutError)


def _pause(seconds: float, *, cancelled: Callable[[], bool]) -> None:
    """Sleep ``seconds``, or less when ``cancelled()`` turns true."""
    end = time.monotonic() + seconds
    while time.monotonic() < end and not cancelled():
        time.sleep(PAUSE_STEP_S)
