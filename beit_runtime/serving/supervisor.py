"""Watch a running server's python stubs and reload a model whose stub died (``beit-serve``'s main loop).

Measured with Triton 2.51: when a stub is killed from outside (the OOM killer), Triton neither restarts
it nor turns readiness false; every request to that model fails with "Stub process ... is not healthy"
(an error, never a wrong answer) and ``load`` on the still-loaded model does nothing. ``unload`` turns
readiness false at once (strict readiness); a ``load`` then starts a new stub in well under a second,
Triton reloading the ensembles that use the model with it. The dead instance itself ends in about a
second when it held no request; when it did (under load), Triton never finishes unloading it: the
reload waits ``UNLOAD_WAIT_S`` for it, then loads anyway, and the model is listed in ``stuck`` (a later
stop then waits Triton's whole exit timeout and Triton exits 1; ``beit-serve`` says why).

``Supervisor.check()``, called every ~0.2 s, compares the stubs found in ``/proc`` (``stubs``) with the
last snapshot: for each model whose stub disappeared it unloads the model, loads it again, reloads any
model that was ready before and is not now, waits until the server is ready and logs
``beit-serve: stub of MODEL died; reloaded in X s`` to stderr.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import IO

from .launcher import TritonProcess
from .stubs import stub_processes

UNLOAD_WAIT_S = 3.0


class Supervisor:
    """The stubs of ``server`` as last seen, and the reload of the models whose stub has gone."""

    def __init__(self, server: TritonProcess, *, reload_timeout_s: float = 120.0, log: IO[str] | None = None) -> None:
        self.server = server
        self.reload_timeout_s = reload_timeout_s
        self.log = log
        self.stubs = stub_processes(server.shm_prefix)
        self.reloads = 0
        self.stuck: set[str] = set()

    def check(self, *, cancelled: Callable[[], bool] = lambda: False) -> None:
        """Reload every model whose stub died since the last check (not when ``cancelled()``)."""
        now = stub_processes(self.server.shm_prefix)
        died = sorted({model for pid, model in self.stubs.items() if pid not in now})
        if died and not cancelled() and self.server.process.poll() is None:
            for model in died:
                self.reload(model, cancelled=cancelled)
            now = stub_processes(self.server.shm_prefix)
        self.stubs = now

    def reload(self, model: str, *, cancelled: Callable[[], bool] = lambda: False) -> float:
        """Unload ``model`` (readiness false at once), load it again and wait until the server is ready;
        the seconds it took. Raises ``ServerError`` (or its ``ServerTimeoutError``) when it does not come back."""
        start = time.monotonic()
        ready_before = [name for name, state in self.server.model_states().items() if state == "READY"]
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
        elapsed = time.monotonic() - start
        self.reloads += 1
        print(f"beit-serve: stub of {model} died; reloaded in {elapsed:.1f} s", file=self.log or sys.stderr,
              flush=True)
        return elapsed
