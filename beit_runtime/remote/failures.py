"""Every failure of a call to Triton, as one of beit_runtime's typed errors (``runtime_error``).

Classified by what the client library reports, never by the wording of a message:

- a message tagged by the python models (``[beit_runtime.X] ...``, ``serving_protocol.tag_error``)
  raises that very class (an ``ImageDecodeError`` in the server is an ``ImageDecodeError`` here);
- tritonclient's ``InferenceServerException`` carries the answer's status: the HTTP status code
  (``"400"``) or the gRPC status code (``"StatusCode.INVALID_ARGUMENT"``), looked up in ``STATUS_ERRORS``
  (invalid argument: ``InputError``; not found, i.e. an unknown model or version: ``ArtifactError``;
  unavailable: ``ServerUnavailableError``; deadline exceeded: ``ServerTimeoutError``);
- the HTTP client raises the socket's own errors: ``TimeoutError`` (no answer within ``timeout_s``)
  becomes ``ServerTimeoutError``, any other ``OSError`` (refused, reset, unreachable, unknown host)
  ``ServerUnavailableError``; ``queue.Empty`` (a gRPC answer that never came back) ``ServerTimeoutError``;
- anything else ``ServerError``. Messages keep the server's text, which names the problem.
"""

from __future__ import annotations

import queue

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
}


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
    if isinstance(error, OSError):
        return ServerUnavailableError
    return STATUS_ERRORS.get(error_status(error) or "", ServerError)


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
    if issubclass(kind, ServerUnavailableError):
        return kind(f"{where}: no answer ({message}); is `beit-serve REPO` running there?")
    return kind(f"{where}: {type(error).__name__}: {message}")
