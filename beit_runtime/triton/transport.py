"""tritonclient over HTTP or gRPC behind one small interface, and server errors as beit_runtime errors.

tritonclient is imported here, lazily, with an error naming the ``triton`` extra. The extra installs
``tritonclient[http]`` plus grpcio rather than ``tritonclient[grpc]``: that extra pins protobuf<7
(6.x), while onnx in the same environment uses protobuf 7; tritonclient 2.69's generated gRPC code
has no runtime-version gate and runs on protobuf 7 (the gRPC tests prove it on every run).

Error mapping (``runtime_error``): a message tagged by the python models (``[beit_runtime.X] ...``)
raises that very class; other invalid-argument answers (a wrong input name or datatype, an empty
request, a batch over max_batch_size) raise ``InputError``; an unknown model raises ``ArtifactError``;
no answer at all raises ``ServerUnavailableError``; the rest ``ServerError``. Messages keep the
server's text, which names the problem.
"""

from __future__ import annotations

import queue
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import ArtifactError, BackendUnavailableError, BeitDeployError, InputError
from .errors import ServerError, ServerUnavailableError
from .protocol import tagged_error_class

PROTOCOLS = ("http", "grpc")
_INVALID = {"400", "StatusCode.INVALID_ARGUMENT"}
_NOT_FOUND = {"404", "StatusCode.NOT_FOUND"}
_UNAVAILABLE = {"StatusCode.UNAVAILABLE", "StatusCode.DEADLINE_EXCEEDED"}
_DTYPES = {np.dtype(np.float32): "FP32", np.dtype(np.float16): "FP16", np.dtype(np.int64): "INT64",
           np.dtype(np.int32): "INT32", np.dtype(np.bool_): "BOOL", np.dtype(np.uint8): "UINT8", np.dtype(object): "BYTES"}


def _import(protocol: str):
    try:
        if protocol == "grpc":
            import tritonclient.grpc as module
        else:
            import tritonclient.http as module
        from tritonclient.utils import InferenceServerException
    except ImportError as error:
        raise BackendUnavailableError(
            f"the Triton {protocol} client is not installed ({error}); install it with `pip install \"beit-deploy[triton]\"`"
        ) from error
    return module, InferenceServerException


def split_url(url: str) -> tuple[str, str]:
    """("http" | "grpc", "host:port") from "http://host:port", "grpc://host:port" or "host:port" (HTTP)."""
    scheme, _, rest = url.partition("://")
    if not rest:
        return "http", url.rstrip("/")
    if scheme not in PROTOCOLS:
        raise InputError(f"server URL {url!r}: scheme must be http:// or grpc://")
    return scheme, rest.rstrip("/")


def runtime_error(error: BaseException, *, model: str, url: str) -> BeitDeployError:
    """The beit_runtime error for what the server (or the network) answered."""
    status = str(error.status()) if hasattr(error, "status") and error.status() is not None else ""
    message = error.message() if hasattr(error, "message") and error.message() else str(error)
    tagged = tagged_error_class(message)
    where = f"Triton at {url}, model '{model}'"
    if tagged is not None:
        return tagged(f"{where}: {message}")
    if status in _INVALID or message.startswith(("unexpected inference input", "expected ")):
        return InputError(f"{where} rejected the request: {message}")
    if status in _NOT_FOUND or "unknown model" in message or "is not found" in message:
        return ArtifactError(f"{where}: {message}; check the model name (the repository's README lists them)")
    if status in _UNAVAILABLE or isinstance(error, OSError):
        return ServerUnavailableError(f"{where}: no answer ({message}); is `beit-serve REPO` running there?")
    return ServerError(f"{where}: {message}")


class Transport:
    """One tritonclient client; ``infer_many`` sends requests concurrently and returns them in order."""

    def __init__(self, url: str, *, timeout_s: float = 60.0, max_in_flight: int = 8) -> None:
        self.protocol, self.address = split_url(url)
        self.url = f"{self.protocol}://{self.address}"
        self.module, self._exception = _import(self.protocol)
        self.timeout_s, self.max_in_flight = timeout_s, max_in_flight
        options = ({"concurrency": max_in_flight, "connection_timeout": timeout_s, "network_timeout": timeout_s}
                   if self.protocol == "http" else {})
        self.client = self.module.InferenceServerClient(self.address, **options)

    def close(self) -> None:
        self.client.close()

    def model_config(self, model: str) -> dict:
        """The model's config as a dict (HTTP JSON shape; gRPC converted to the same)."""
        try:
            if self.protocol == "http":
                return self.client.get_model_config(model)
            return self.client.get_model_config(model, as_json=True)["config"]
        except (self._exception, OSError) as error:
            raise runtime_error(error, model=model, url=self.url) from error

    def inputs(self, feeds: Mapping[str, np.ndarray]) -> list:
        made = []
        for name, value in feeds.items():
            value = np.asarray(value)
            if value.dtype not in _DTYPES:
                raise InputError(f"input '{name}': dtype {value.dtype} has no Triton datatype here")
            tensor = self.module.InferInput(name, list(value.shape), _DTYPES[value.dtype])
            tensor.set_data_from_numpy(value)
            made.append(tensor)
        return made

    def infer_many(self, model: str, requests: Sequence[Mapping[str, np.ndarray]], outputs: Sequence[str]) -> list[dict[str, np.ndarray]]:
        """Send every request (at most ``max_in_flight`` at once); their outputs, in order. Raises the first error."""
        try:
            if self.protocol == "http":
                return self._infer_http(model, requests, outputs)
            return self._infer_grpc(model, requests, outputs)
        except (self._exception, OSError) as error:
            raise runtime_error(error, model=model, url=self.url) from error

    def _infer_http(self, model, requests, outputs) -> list[dict[str, np.ndarray]]:
        wanted = [self.module.InferRequestedOutput(name, binary_data=True) for name in outputs]
        pending = [self.client.async_infer(model, self.inputs(feeds), outputs=wanted)
                   for feeds in requests]
        return [{name: result.as_numpy(name) for name in outputs} for result in (item.get_result() for item in pending)]

    def _infer_grpc(self, model, requests, outputs) -> list[dict[str, np.ndarray]]:
        wanted = [self.module.InferRequestedOutput(name) for name in outputs]
        done: queue.Queue = queue.Queue()
        results: list[Any] = [None] * len(requests)
        sent = 0
        for index, feeds in enumerate(requests):
            if sent - sum(item is not None for item in results) >= self.max_in_flight:
                self._collect(done, results)
            self.client.async_infer(model, self.inputs(feeds), callback=lambda result, error, i=index: done.put((i, result, error)),
                                    outputs=wanted, client_timeout=self.timeout_s)
            sent += 1
        while any(item is None for item in results):
            self._collect(done, results)
        return [{name: result.as_numpy(name) for name in outputs} for result in results]

    def _collect(self, done: queue.Queue, results: list) -> None:
        index, result, error = done.get(timeout=self.timeout_s + 5)
        if error is not None:
            raise error
        results[index] = result
