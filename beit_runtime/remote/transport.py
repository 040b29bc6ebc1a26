"""tritonclient over HTTP or gRPC behind one small interface; every failure a typed beit_runtime error.

tritonclient is imported here, lazily, with an error naming the ``triton`` extra. The extra installs
``tritonclient[http]`` plus grpcio rather than ``tritonclient[grpc]``: that extra pins protobuf<7
(6.x), while onnx in the same environment uses protobuf 7; tritonclient 2.69's generated gRPC code
has no runtime-version gate and runs on protobuf 7 (the gRPC tests prove it on every run).

Every call to the client library goes through ``Transport._call``, which turns whatever it raises
into a typed error (``failures.runtime_error``); errors beit_runtime raises itself pass unchanged.
``timeout_s`` bounds each call: the HTTP client's connection and network timeouts, gRPC's
``client_timeout``.
"""

from __future__ import annotations

import http.client
import queue
import re
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any, TypeVar

import numpy as np

from ..errors import BackendUnavailableError, BeitDeployError, InputError
from .failures import runtime_error

PROTOCOLS = ("http", "grpc")
URL_FORMS = "host:port, http://host:port or grpc://host:port"
_ADDRESS = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(?P<port>[0-9]{1,5})$")  # host or [IPv6], port
Outputs = dict[str, np.ndarray]
_T = TypeVar("_T")
_DTYPES = {np.dtype(np.float32): "FP32", np.dtype(np.float16): "FP16", np.dtype(np.int64): "INT64",
           np.dtype(np.int32): "INT32", np.dtype(np.bool_): "BOOL", np.dtype(np.uint8): "UINT8",
           np.dtype(object): "BYTES"}


def client_module(protocol: str) -> ModuleType:
    """``tritonclient.http`` or ``tritonclient.grpc``; BackendUnavailableError naming the extra when missing."""
    try:
        if protocol == "grpc":
            import tritonclient.grpc as module
        else:
            import tritonclient.http as module
    except ImportError as error:
        raise BackendUnavailableError(
            f"the Triton {protocol} client is not installed ({error}); "
            "install it with `pip install \"beit-deploy[triton]\"`"
        ) from error
    loaded: ModuleType = module
    return loaded


def split_url(url: str) -> tuple[str, str]:
    """("http" | "grpc", "host:port") from "http://host:port", "grpc://host:port" or "host:port" (HTTP);
    InputError showing these forms for anything else."""
    if not isinstance(url, str):
        raise InputError(f"server URL must be a string such as {URL_FORMS}, got {type(url).__name__}")
    scheme, _, rest = url.strip().partition("://")
    if not rest:
        scheme, rest = "http", url.strip()
    if scheme not in PROTOCOLS:
        raise InputError(f"server URL {url!r}: scheme must be http:// or grpc:// (or none for HTTP): {URL_FORMS}")
    address = rest.rstrip("/")
    match = _ADDRESS.match(address)
    if match is None or not 1 <= int(match.group("port")) <= 65535:
        raise InputError(f"server URL {url!r} is not of the form {URL_FORMS} (a port 1-65535), "
                         "e.g. 127.0.0.1:8000 for beit-serve's HTTP port")
    return scheme, address


class RequestFailure(Exception):
    """What the client library raised for request ``index`` of an ``infer_many`` call (typed there)."""

    def __init__(self, index: int, error: BaseException) -> None:
        super().__init__(str(error))
        self.index, self.error = index, error


class Transport:
    """One tritonclient client: readiness, model config and metadata, and ``infer_many`` (concurrent, in order)."""

    def __init__(self, url: str, *, timeout_s: float = 60.0, max_in_flight: int = 8) -> None:
        for name, value in (("timeout_s", timeout_s), ("max_in_flight", max_in_flight)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise InputError(f"{name} must be a positive number, got {value!r}")
        self.protocol, self.address = split_url(url)
        self.url = f"{self.protocol}://{self.address}"
        self.module = client_module(self.protocol)
        self.timeout_s, self.max_in_flight = float(timeout_s), int(max_in_flight)
        options = ({"concurrency": self.max_in_flight, "connection_timeout": self.timeout_s,
                    "network_timeout": self.timeout_s} if self.protocol == "http" else {})
        self.client = self._call("", lambda: self.module.InferenceServerClient(self.address, **options))

    @property
    def _timeout(self) -> dict[str, float]:
        """The per-call timeout keyword (gRPC; the HTTP client has its timeouts from construction)."""
        return {"client_timeout": self.timeout_s} if self.protocol == "grpc" else {}

    def _call(self, model: str, call: Callable[[], _T]) -> _T:
        try:
            return call()
        except (BeitDeployError, RequestFailure):
            raise
        except Exception as error:  # the client library's and the socket's errors, classified by type and status
            raise runtime_error(error, model=model, url=self.url, timeout_s=self.timeout_s) from error

    def close(self) -> None:
        self.client.close()

    def server_ready(self) -> bool:
        return bool(self._call("", lambda: self.client.is_server_ready(**self._timeout)))

    def model_ready(self, model: str, version: str = "") -> bool:
        return bool(self._call(model, lambda: self.client.is_model_ready(model, version, **self._timeout)))

    def repository_index(self) -> list[dict[str, Any]]:
        """One entry (``name``, ``version``, ``state``) per model in the server's repository, loaded or not."""
        if self.protocol == "http":
            index = self._call("", self.client.get_model_repository_index)
        else:
            index = self._call("", lambda: self.client.get_model_repository_index(as_json=True, **self._timeout))
            index = index.get("models") or []
        return list(index)

    def model_config(self, model: str, version: str = "") -> dict[str, Any]:
        """The model's config as a dict (HTTP JSON shape; gRPC converted to the same)."""
        if self.protocol == "http":
            return self._call(model, lambda: self.client.get_model_config(model, version))
        answer = self._call(model, lambda: self.client.get_model_config(model, version, as_json=True, **self._timeout))
        config: dict[str, Any] = answer["config"]
        return config

    def model_versions(self, model: str, version: str = "") -> list[str]:
        """The versions the server has loaded for ``model`` (its metadata's ``versions``)."""
        if self.protocol == "http":
            metadata = self._call(model, lambda: self.client.get_model_metadata(model, version))
        else:
            metadata = self._call(
                model, lambda: self.client.get_model_metadata(model, version, as_json=True, **self._timeout))
        return [str(item) for item in metadata.get("versions") or []]

    def inputs(self, feeds: Mapping[str, np.ndarray]) -> list[Any]:
        made = []
        for name, feed in feeds.items():
            value = np.asarray(feed)
            if value.dtype not in _DTYPES:
                raise InputError(f"input '{name}': dtype {value.dtype} has no Triton datatype here; "
                                 f"send one of {', '.join(str(dtype) for dtype in _DTYPES)}")
            tensor = self.module.InferInput(name, list(value.shape), _DTYPES[value.dtype])
            tensor.set_data_from_numpy(value)
            made.append(tensor)
        return made

    def infer_many(self, model: str, requests: Sequence[Mapping[str, np.ndarray]], outputs: Sequence[str],
                   *, version: str = "", names: Sequence[str] = ()) -> list[Outputs]:
        """Send every request (at most ``max_in_flight`` at once); their outputs, in order. Raises the first error,
        naming the request that failed by its entry in ``names`` (e.g. the image file it carries)."""
        send = self._infer_http if self.protocol == "http" else self._infer_grpc
        try:
            return self._call(model, lambda: send(model, requests, outputs, version))
        except RequestFailure as failure:
            request = names[failure.index] if failure.index < len(names) else f"request {failure.index}"
            raise runtime_error(failure.error, model=model, url=self.url, timeout_s=self.timeout_s,
                                request=request) from failure.error

    def _infer_http(self, model: str, requests: Sequence[Mapping[str, np.ndarray]], outputs: Sequence[str],
                    version: str) -> list[Outputs]:
        wanted = [self.module.InferRequestedOutput(name, binary_data=True) for name in outputs]
        _quiet_gevent_hub()
        pending = [self.client.async_infer(model, self.inputs(feeds), model_version=version, outputs=wanted)
                   for feeds in requests]
        return [{name: result.as_numpy(name) for name in outputs} for result in map(_result, enumerate(pending))]

    def _infer_grpc(self, model: str, requests: Sequence[Mapping[str, np.ndarray]], outputs: Sequence[str],
                    version: str) -> list[Outputs]:
        wanted = [self.module.InferRequestedOutput(name) for name in outputs]
        done: queue.Queue[tuple[int, Any, BaseException | None]] = queue.Queue()
        results: list[Any] = [None] * len(requests)
        for index, feeds in enumerate(requests):
            if index - sum(item is not None for item in results) >= self.max_in_flight:
                self._collect(done, results)
            self.client.async_infer(model, self.inputs(feeds), model_version=version, outputs=wanted,
                                    client_timeout=self.timeout_s,
                                    callback=lambda result, error, i=index: done.put((i, result, error)))
        while any(item is None for item in results):
            self._collect(done, results)
        return [{name: result.as_numpy(name) for name in outputs} for result in results]

    def _collect(self, done: queue.Queue[tuple[int, Any, BaseException | None]], results: list[Any]) -> None:
        """Wait for one answer (queue.Empty, classified as a timeout, when none comes well after the deadline)."""
        index, result, error = done.get(timeout=self.timeout_s + 5)
        if error is not None:
            raise RequestFailure(index, error)
        results[index] = result


def _quiet_gevent_hub() -> None:
    """This thread's gevent hub (tritonclient's HTTP client sends from greenlets) stops printing a traceback
    for each request that fails on the network: the failure is raised by ``get_result``, typed (``failures``)."""
    import gevent

    hub = gevent.get_hub()
    if OSError not in hub.NOT_ERROR:
        hub.NOT_ERROR = (*hub.NOT_ERROR, OSError, http.client.HTTPException)


def _result(pending: tuple[int, Any]) -> Any:
    """The answer to HTTP request (index, pending); RequestFailure naming the index when it failed."""
    index, request = pending
    try:
        return request.get_result()
    except Exception as error:  # the client library's, typed by infer_many
        raise RequestFailure(index, error) from error
