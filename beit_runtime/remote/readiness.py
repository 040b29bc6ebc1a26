"""Waiting for a served model to be ready, as pytriton's ``ModelClient`` does, instead of failing at once.

``beit-serve`` opens its endpoints only once every model has loaded, so while a server starts a client
sees refused connections, and on a server that loads models later it sees "not ready". ``wait_until_ready``
polls the model's readiness every ``poll_s`` until it is ready or ``timeout_s`` has passed (a timeout of
0 asks once). It raises at once for a model the ready server does not know (``ArtifactError``), and on
timeout ``ServerUnavailableError`` when no server ever answered, else ``ServerTimeoutError``; both say
what was waited for and for how long. A grpc:// URL that names Triton's HTTP port is said at once. A probe may
overrun the deadline by at most the transport's own ``timeout_s``.
"""

from __future__ import annotations

import time

from ..errors import ArtifactError, ServerError, ServerTimeoutError, ServerUnavailableError
from .failures import grpc_at_http_hint, http_api_at
from .transport import Transport

POLL_S = 0.25


def _ready(transport: Transport, model: str, version: str) -> bool:
    """One probe: True when ready; ArtifactError when the ready server does not know the model."""
    if transport.model_ready(model, version):
        return True
    if not transport.server_ready():
        return False
    index = transport.repository_index()
    if any(entry.get("name") == model and (not version or entry.get("version") in (None, "", version))
           for entry in index):
        return False
    shown = f"model '{model}'" + (f" version {version}" if version else "")
    listed = sorted({str(entry.get("name")) for entry in index})
    raise ArtifactError(f"Triton at {transport.url}: unknown model, the ready server does not list {shown} (it "
                        f"lists {', '.join(listed) if listed else 'no model'}); check the name or serve the "
                        "repository that holds it")


def wait_until_ready(transport: Transport, model: str, *, version: str = "", timeout_s: float,
                     poll_s: float = POLL_S) -> float:
    """Block until ``model`` is ready on the transport's server; the seconds it took (see the module docstring)."""
    start = time.monotonic()
    answered, last, probed = False, "no probe made", False
    while True:
        try:
            if _ready(transport, model, version):
                return time.monotonic() - start
            answered, last = True, "the server answers, the model is not ready"
        except (ServerUnavailableError, ServerTimeoutError) as error:
            last = str(error)
            if not probed and transport.protocol == "grpc":  # once: a grpc:// URL naming the HTTP port
                probed = True
                if http_api_at(transport.address, timeout_s=min(transport.timeout_s, 5.0)):
                    raise ServerUnavailableError(f"Triton at {transport.url}: {grpc_at_http_hint(transport.address)}"
                                                 ) from error
        left = timeout_s - (time.monotonic() - start)
        if left <= 0:
            break
        time.sleep(min(poll_s, left))
    what = f"model '{model}'" + (f" version {version}" if version else "") + f" to be ready at {transport.url}"
    error_type: type[ServerError] = ServerTimeoutError if answered else ServerUnavailableError
    hint = ("the model is still loading or failed to load: see the server's log, or wait longer" if answered
            else "start the server (`beit-serve REPO`), check the URL, or wait longer")
    hint += " (ready_timeout_s; beit-run: --server-timeout S)"
    raise error_type(f"waited {timeout_s:g} s for {what}; last: {last}; {hint}")
