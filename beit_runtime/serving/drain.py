"""A stop that a load balancer can follow, within a bounded time (``beit-serve --grace-period``).

Measured with Triton 2.51: a plain SIGTERM with keep-alive clients connected lets the whole
``--exit-timeout-secs`` pass waiting for those connections, and then abandons the still-loaded python
models ("Non-graceful termination", exit 1). Unloading the models first (explicit model control) turns
``/v2/health/ready`` false at once (strict readiness), lets the requests in flight in each model finish,
and refuses new ones with an error ("model unavailable"); after that SIGTERM waits at most the exit
timeout for idle connections and exits 0. The python models go first: unloading only the ensembles
leaves readiness at 200. Readiness is 200 again once no model is loaded at all (strict readiness counts
only loaded models), so SIGTERM goes while the python models are still UNLOADING (their stubs take
about a second to end): once no model is READY, every ensemble has finished unloading (its requests in
flight are done) and readiness has been false for at least ``NOT_READY_HOLD_S`` (for probes to see it;
sooner only if every model is unloaded already). The server then closes its listening sockets at once
(a probe gets "connection refused": not ready either) and waits, within the exit timeout, for the
connections and for the python models to end.

Phases, each bounded so that the whole stop ends within the grace period: unload (python models, then
ensembles) as above; SIGTERM and wait the exit timeout plus a margin; SIGKILL as the last resort (then
the stop is not clean). So the requests in flight get what the last two phases leave of the grace period
(``request_time_s``: the grace period less the exit timeout, ``EXIT_MARGIN_S`` and ``KILL_RESERVE_S``);
a grace period that leaves them less than ``MIN_REQUEST_TIME_S`` is refused (``MIN_GRACE_PERIOD_S``:
measured, ``--grace-period 2`` left 0.5 s, and 23 of 24 requests in flight were cut).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from ..errors import ServeOptionError, ServerError
from .launcher import TritonProcess, model_backends

EXIT_MARGIN_S = 2.0
KILL_RESERVE_S = 1.0
SERVING_STATES = ("READY", "LOADING")
POLL_S = 0.02
NOT_READY_HOLD_S = 0.5
REASK_S = 1.0
MIN_REQUEST_TIME_S = 1.0


def exit_timeout_for(grace_period_s: float) -> int:
    """Triton's ``--exit-timeout-secs`` for a grace period: a quarter of it, 2 to 5 s (it bounds the wait for
    idle keep-alive connections, then for the python stubs to end: about a second)."""
    return int(min(5, max(2, grace_period_s // 4)))


def request_time_s(grace_period_s: float) -> float:
    """The seconds of a stop within ``grace_period_s`` that the requests in flight have to finish: what the
    SIGTERM phase (exit timeout + ``EXIT_MARGIN_S``) and ``KILL_RESERVE_S`` leave."""
    return grace_period_s - exit_timeout_for(grace_period_s) - EXIT_MARGIN_S - KILL_RESERVE_S


def _min_grace_period_s() -> int:
    """The shortest whole grace period that leaves the requests in flight ``MIN_REQUEST_TIME_S``."""
    return next(seconds for seconds in range(1, 60) if request_time_s(seconds) >= MIN_REQUEST_TIME_S)


MIN_GRACE_PERIOD_S = _min_grace_period_s()  # 6: 1 s for requests + 2 s exit timeout + 2 s margin + 1 s reserve


def check_grace_period(grace_period_s: float) -> None:
    """ServeOptionError for a ``--grace-period`` that leaves the requests in flight less than
    ``MIN_REQUEST_TIME_S``."""
    if grace_period_s < MIN_GRACE_PERIOD_S:
        raise ServeOptionError(
            f"--grace-period {grace_period_s:g} is too short: a stop keeps Triton's exit timeout "
            f"({exit_timeout_for(grace_period_s)} s) and {EXIT_MARGIN_S + KILL_RESERVE_S:g} s for the server to "
            f"exit, which leaves the requests in flight {max(0.0, request_time_s(grace_period_s)):g} s; give at "
            f"least {MIN_GRACE_PERIOD_S} s (Kubernetes' default terminationGracePeriodSeconds is 30)")


def ensembles(repositories: tuple[Path, ...]) -> set[str]:
    """Names of the ensemble models in the repositories (their config.pbtxt says ``platform: "ensemble"``)."""
    return {model.name for model, backend in model_backends(repositories).items() if backend == "ensemble"}


def unload_all(server: TritonProcess, *, deadline: float, hold_s: float = NOT_READY_HOLD_S) -> bool:
    """Unload every loaded model (python models first, then ensembles; one still LOADING once it is READY)
    and wait until it is time for SIGTERM (see the module docstring) or ``deadline`` (time.monotonic())
    passes; whether in time."""
    start = time.monotonic()
    last = ensembles(server.plan.repositories)
    asked: dict[str, float] = {}
    while time.monotonic() < deadline and server.process.poll() is None:
        with contextlib.suppress(OSError, ServerError):
            states = server.model_states()
            _ask_unload(server, states, asked=asked, ensembles=last, deadline=deadline)
            if _time_to_stop(states, ensembles=last, held=time.monotonic() - start >= hold_s):
                return True
        time.sleep(POLL_S)
    return False


def _ask_unload(server: TritonProcess, states: dict[str, str], *, asked: dict[str, float], ensembles: set[str],
                deadline: float) -> None:
    """Ask to unload each READY model not asked within the last ``REASK_S`` (python models first)."""
    now = time.monotonic()
    due = [name for name, state in states.items() if state == "READY" and now - asked.get(name, -REASK_S) >= REASK_S]
    for name in sorted(due, key=lambda model: (model in ensembles, model)):
        asked[name] = now
        with contextlib.suppress(OSError, ServerError):
            server.control(name, "unload", timeout_s=max(0.5, deadline - time.monotonic()))


def _time_to_stop(states: dict[str, str], *, ensembles: set[str], held: bool) -> bool:
    if any(state in SERVING_STATES for state in states.values()):
        return False
    if any(states.get(name) == "UNLOADING" for name in ensembles):
        return False  # requests still in flight
    return held or all(state != "UNLOADING" for state in states.values())


def drain_and_stop(server: TritonProcess, *, grace_period_s: float) -> int:
    """Readiness false, requests in flight finished, then the server stopped, all within ``grace_period_s``
    (from now); the server's exit code (0: clean; negative: killed by that signal)."""
    start = time.monotonic()
    exit_wait_s = server.plan.exit_timeout_s + EXIT_MARGIN_S
    unload_deadline = start + max(0.5, grace_period_s - exit_wait_s - KILL_RESERVE_S)  # request_time_s
    if server.process.poll() is None:
        unload_all(server, deadline=unload_deadline)
    remaining = grace_period_s - (time.monotonic() - start) - KILL_RESERVE_S
    return server.stop(wait_s=max(0.5, remaining))
