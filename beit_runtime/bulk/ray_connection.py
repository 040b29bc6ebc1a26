"""Joining the Ray cluster a folder run names, or starting a local Ray: one typed error, within seconds, when
there is nothing to join (``ray.init`` raises ConnectionError for "auto" without a cluster and waits minutes
on an address where nothing listens); the typed error for a worker lost during a run; and Ray Data's console
chatter kept off the run's stderr."""

from __future__ import annotations

import logging
import socket
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import ClusterUnavailableError

PROBE_SECONDS = 5.0
# ray.exceptions raised when an actor, its worker process or its node is gone (not an error inside our code)
LOST_WORKER_ERRORS = ("ActorDiedError", "ActorUnavailableError", "NodeDiedError", "WorkerCrashedError",
                      "ObjectLostError", "OwnerDiedError")
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
    reason = next((line for line in lines if line.startswith("The actor died because")), lines[0] if lines else "")
    return ClusterUnavailableError(f"a Ray worker was lost during the run ({type(error).__name__}: {reason}); "
                                   f"{output} keeps every image done: rerun the same command to go on")


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
    """While a run streams: Ray Data's console log shows errors only (its INFO lines on every execution and the
    "Progress bars disabled" notice interleaved with beit-run's own progress; they stay in Ray's session log,
    ray-data.log), and two warnings that say nothing to act on are not shown: the deprecation of
    ``ray_remote_args_fn`` (Ray 2.60 has no other way to say ``max_restarts=0``) and "the operator only received
    1 input(s)" on small runs."""
    consoles = [handler for handler in logging.getLogger("ray.data").handlers if handler.get_name() == "console"]
    levels = [handler.level for handler in consoles]
    for handler in consoles:
        handler.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="`ray_remote_args_fn` is deprecated")
            warnings.filterwarnings("ignore", message="The minimum number of concurrent actors")
            yield
    finally:
        for handler, level in zip(consoles, levels, strict=True):
            handler.setLevel(level)
