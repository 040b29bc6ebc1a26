"""Joining the Ray cluster a folder run names, or starting a local Ray: one typed error, within seconds, when
there is nothing to join (``ray.init`` raises ConnectionError for "auto" without a cluster and waits minutes
on an address where nothing listens); the typed error for a worker lost during a run, naming Ray's reason; and
Ray's console chatter kept off the run's stdout and stderr (Ray Data's log lines and tracebacks, the raylet's
"A worker died" notices), which Ray's own log files keep."""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from ..errors import ClusterUnavailableError

PROBE_SECONDS = 5.0
# ray.exceptions raised when an actor, its worker process or its node is gone (not an error inside our code)
LOST_WORKER_ERRORS = ("ActorDiedError", "ActorUnavailableError", "NodeDiedError", "WorkerCrashedError",
                      "ObjectLostError", "OwnerDiedError")
# the driver's thread that prints the raylet's error notices ("(raylet) A worker died ...") on stdout
RAY_ERROR_PRINTER = "ray_listen_error_messages"
REASON_CHARS = 300  # of Ray's reason, in the one line a lost worker ends a run with
_FIX = ("start one there (`ray start --head` on its head node), pass the head's address as --ray HOST:6379 "
        "(or ray://HOST:10001 for Ray Client, or set RAY_ADDRESS), or give --ray alone for a local Ray on this machine")


def connect(ray: Any, address: str | None) -> bool:
    """Join the cluster at ``address`` (None: a new local Ray, or RAY_ADDRESS's); whether we started the
    connection (and so must shut it down). A connection already open is used as it is."""
    if ray.is_initialized():
        return False
    _probe(address)
    try:
        ray.init(address=address or None, include_dashboard=False, log_to_driver=False, configure_logging=False)
    except ConnectionError as error:
        reason = str(error).split(". ")[0].rstrip(".")
        raise ClusterUnavailableError(f"no Ray cluster to join at --ray {address or 'RAY_ADDRESS'} "
                                      f"({reason}): {_FIX}") from error
    return True


def lost_worker_error(error: Exception, *, output: Any) -> ClusterUnavailableError:
    """The typed error for a Ray failure during a run (an actor or its node died: the actors are not restarted,
    since a restart waits forever for the CPUs of a node that is gone), naming Ray's reason."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    reason = next((line for line in lines if line.startswith(("The actor died because", "The actor is dead because"))),
                  lines[0] if lines else "")
    reason = reason.split(" Some common causes")[0]
    reason = reason if len(reason) <= REASON_CHARS else reason[:REASON_CHARS - 3] + "..."
    return ClusterUnavailableError(f"a Ray worker was lost during the run ({type(error).__name__}: {reason}); "
                                   f"{output} keeps every image done: rerun the same command to go on (Ray's logs "
                                   "on each node say more: /tmp/ray/session_latest/logs)")


def _probe(address: str | None) -> None:
    """One TCP connection to ``address``'s host and port, when it names them ("auto", "local" and None do
    not): refused or unanswered in PROBE_SECONDS is a ClusterUnavailableError."""
    host_port = _host_port(address)
    if host_port is None:
        return
    try:
        with socket.create_connection(host_port, timeout=PROBE_SECONDS):
            return
    except OSError as error:
        cause = error.strerror or type(error).__name__
        raise ClusterUnavailableError(f"no Ray cluster answers at --ray {address} ({cause}): {_FIX}") from error


def _host_port(address: str | None) -> tuple[str, int] | None:
    if not address or address in ("auto", "local"):
        return None
    bare = address.split("://", 1)[-1].rstrip("/")
    host, separator, port = bare.rpartition(":")
    if not separator or not port.isdigit():
        return None  # ray.init says what is wrong with it
    return host.strip("[]"), int(port)


@contextmanager
def ray_data_console_quiet() -> Iterator[None]:
    """While a run streams, Ray keeps its console chatter to its log files: Ray Data's console log shows nothing
    (its INFO lines on every execution, the "Progress bars disabled" notice, and the tracebacks it logs before the
    error a lost worker raises, which the run turns into one line: they stay in Ray's session log, ray-data.log),
    the raylet's error notices are not printed on stdout (the raylet's log keeps them), and two warnings that say
    nothing to act on are not shown: the deprecation of ``ray_remote_args_fn`` (Ray 2.60 has no other way to say
    ``max_restarts=0``) and "the operator only received 1 input(s)" on small runs."""
    consoles = [handler for handler in logging.getLogger("ray.data").handlers if handler.get_name() == "console"]
    levels = [handler.level for handler in consoles]
    for handler in consoles:
        handler.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings(), _without_thread_output(sys.stdout, RAY_ERROR_PRINTER):
            warnings.filterwarnings("ignore", message="`ray_remote_args_fn` is deprecated")
            warnings.filterwarnings("ignore", message="The minimum number of concurrent actors")
            yield
    finally:
        for handler, level in zip(consoles, levels, strict=True):
            handler.setLevel(level)


class _ThreadFilteredStream:
    """``stream``, but what the thread named ``dropped`` writes goes nowhere."""

    def __init__(self, stream: IO[str], dropped: str) -> None:
        self._stream = stream
        self._dropped = dropped

    def write(self, text: str) -> int:
        if threading.current_thread().name == self._dropped:
            return len(text)
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def _without_thread_output(stream: IO[str], thread_name: str) -> Iterator[None]:
    """sys.stdout is ``stream`` less what the thread ``thread_name`` writes, for the block (Ray's error printer
    looks sys.stdout up each time it prints)."""
    with contextlib.redirect_stdout(_ThreadFilteredStream(stream, thread_name)):
        yield
