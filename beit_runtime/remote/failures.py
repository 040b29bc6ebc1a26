"""Every failure of a call to Triton, as one of beit_runtime's typed errors (``runtime_error``).

Classified by what the client library reports, never by the wording of a message:

- a message tagged by the python models (``[beit_runtime.X] ...``, ``serving_protocol.tag_error``)
  raises that very class (an ``ImageDecodeError`` in the server is an ``ImageDecodeError`` here);
- tritonclient's ``InferenceServerException`` carries the answer's status: the HTTP status code
  (``"400"``) or the gRPC status code (``"StatusCode.INVALID_ARGUMENT"``), looked up in ``STATUS_ERRORS``
  (invalid argument: ``InputError``; not found, i.e. an unknown model or version: ``ArtifactError``;
  unavailable: ``ServerUnavailableError``; deadline exceeded: ``ServerTimeoutError``);
- the HTTP client raises the socket's own errors: ``TimeoutError`` (no answer within ``timeout_s``)
  becomes ``ServerTimeoutError``, any other ``OSError`` (refused, reset, unreachable, unknown host) or a
  connection the server closed (``http.client.HTTPException``, gRPC CANCELLED: a server stopping)
  ``ServerUnavailableError``; ``queue.Empty`` (a gRPC answer that never came back) ``ServerTimeoutError``;
- one answer is told apart by its text: "not found" for a model the server knows but has no version ready
  of (Triton: "has no available versions") means loading, reloading (a crashed python stub) or stopping,
  so ``ServerUnavailableError`` (retry), not an unknown model;
- anything else ``ServerError``. Messages keep the server's text, which names the problem.

A URL that names Triton's metrics port answers every GET with an empty 200 (so the model looks ready) and
every POST with 405; an HTTP answer that is not JSON is checked against ``GET /metrics`` there
(``is_metrics_port``), and the error says to use the HTTP port (``METRICS_PORT_HINT``). A grpc:// URL that names
the HTTP port fails every call as if no server listened; ``http_api_at`` tells that case apart (``GRPC_AT_HTTP_HINT``).
"""

from __future__ import annotations

import http.client
import queue
import urllib.request

from ..errors import ArtifactError, BeitDeployError, InputError, ServerError, ServerTimeoutError, ServerUnavailableError
from ..serving_protocol import tagged_error_class

STATUS_ERRORS: dict[str, type[BeitDeployError]] = {
    "400": InputError,
    "404": ArtifactError,
    "503": ServerUnavailableError,
    "504": ServerTimeoutError,
    "StatusCode.INVALID_ARGUMENT": InputError,
    "StatusCode.NOT_FOUND": ArtifactError,
    "StatusCode.UNAVAILABLE": ServerUnavailableError,
    "StatusCode.DEADLINE_EXCEEDED": ServerTimeoutError,
    "StatusCode.CANCELLED": ServerUnavailableError,  # the server stopped while the call waited
}
METRICS_PORT_HINT = ("answered like Triton's metrics port, not its HTTP port: use the --http-port, 8000 by default "
                     "(the metrics port serves only GET /metrics)")
NOT_READY_TEXT = "has no available versions"  # Triton's "unknown model" answer for a known model not ready now


def error_status(error: BaseException) -> str | None:
    """The HTTP or gRPC status code an ``InferenceServerException`` carries (None for other errors)."""
    status = getattr(error, "status", None)
    value = status() if callable(status) else None
    return str(value) if value is not None else None


def error_message(error: BaseException) -> str:
    message = getattr(error, "message", None)
    text = message() if callable(message) else None
    return str(text) if text else (str(error) or type(error).__name__)


def error_class(error: BaseException) -> type[BeitDeployError]:
    """Which typed error ``error`` becomes, from its type and status code (see the module docstring)."""
    tagged = tagged_error_class(error_message(error))
    if tagged is not None:
        return tagged
    if isinstance(error, (TimeoutError, queue.Empty)):
        return ServerTimeoutError
    if isinstance(error, (OSError, http.client.HTTPException)):
        return ServerUnavailableError
    kind = STATUS_ERRORS.get(error_status(error) or "", ServerError)
    if issubclass(kind, ArtifactError) and NOT_READY_TEXT in error_message(error):
        return ServerUnavailableError
    return kind


def runtime_error(error: BaseException, *, model: str, url: str, timeout_s: float,
                  request: str = "") -> BeitDeployError:
    """The beit_runtime error for what the server (or the network) answered, its message naming the fix (and
    ``request``, what the failed request carried: an image file, say)."""
    kind = error_class(error)
    message = error_message(error)
    where = f"Triton at {url}, model '{model}'" + (f", {request}" if request else "")
    if tagged_error_class(message) is not None:
        return kind(f"{where}: {message}")
    if issubclass(kind, InputError):
        return kind(f"{where} rejected the request: {message}")
    if issubclass(kind, ArtifactError):
        return kind(f"{where}: {message}; check the model name and version (the repository's README lists them)")
    if issubclass(kind, ServerTimeoutError):
        return kind(f"{where}: no answer within {timeout_s:g} s ({message or 'timed out'}); "
                    "raise timeout_s (beit-run: --server-timeout S) or lighten the server's load")
    if issubclass(kind, ServerUnavailableError) and NOT_READY_TEXT in message:
        return kind(f"{where}: the model is not ready ({message}): the server is loading, reloading or stopping "
                    "it; retry in a few seconds")
    if issubclass(kind, ServerUnavailableError):
        return kind(f"{where}: no answer ({message}); is `beit-serve REPO` running there?")
    return kind(f"{where}: {type(error).__name__}: {message}")


def is_metrics_port(base_url: str, *, timeout_s: float) -> bool:
    """Whether ``GET base_url/metrics`` answers with Triton's Prometheus metrics (its ``nv_`` families)."""
    try:
        with urllib.request.urlopen(f"{base_url}/metrics", timeout=timeout_s) as reply:
            return b"# HELP nv_" in reply.read(1 << 20)
    except (OSError, ValueError, http.client.HTTPException):
        return False


def http_api_at(address: str, *, timeout_s: float) -> bool:
    """Whether ``GET http://address/v2`` answers with Triton's server metadata (its HTTP API listens there)."""
    try:
        with urllib.request.urlopen(f"http://{address}/v2", timeout=timeout_s) as reply:
            return b'"name":"triton"' in reply.read(1 << 16).replace(b" ", b"")
    except (OSError, ValueError, http.client.HTTPException):
        return False


def grpc_at_http_hint(address: str) -> str:
    return (f"grpc://{address} is Triton's HTTP port, not its gRPC port: use http://{address}, or the --grpc-port "
            "(8001 by default) with grpc://")
