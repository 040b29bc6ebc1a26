"""tritonclient over HTTP or gRPC behind one small interface; every failure a typed beit_runtime error.

tritonclient is imported here, lazily, with an error naming the ``triton`` extra. The extra installs
``tritonclient[http]`` plus grpcio rather than ``tritonclient[grpc]``: that extra pins protobuf<7 (6.x), while onnx in
the same environment uses protobuf 7; tritonclient 2.69's generated gRPC code has no runtime-version gate and runs on
protobuf 7 (the gRPC tests prove it on every run).

Every call to the client library goes through ``Transport._call``, which turns whatever it raises into a typed error
(``failures.runtime_error``); errors beit_runtime raises itself pass unchanged. ``timeout_s`` bounds each call: the
HTTP client's connection and network timeouts, gRPC's ``client_timeout``. Any thread may call a Transport: over HTTP
each thread gets its own tritonclient client (``thread_clients``: one is bound to the thread that made it); gRPC's one
client is thread-safe. A gRPC client reconnects to a restarted server within ~1 s of its readiness (it failed for 9.2
s, measured): its channel retries at least every 0.5 s (``GRPC_RECONNECT``; gRPC's own backoff grows to 2 minutes),
and gRPC's backup poll, which alone sees a connection attempt's outcome while calls fail fast, runs every 0.25 s
instead of 5 s (``GRPC_BACKUP_POLL``, set unless the environment sets it, before gRPC first starts in the process: set
it yourself if your program uses gRPC before this client). ``infer_iter`` streams: it draws a request from its
iterable only when fewer than ``max_in_flight`` are held (sent, or answered and not yet handed back), so a caller that
makes them lazily (``RemoteModel`` encodes each image then) holds at most that many at once. After ``close()`` every
call raises ``ModelClosedError`` before anything is sent.
"""

from __future__ import annotations

import os
import queue
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import partial
from types import ModuleType
from typing import Any, TypeVar

import numpy as np

from ..errors import BackendUnavailableError, BeitDeployError, InputError, ModelClosedError, ServerError, missing_extra
from .failures import METRICS_PORT_HINT, is_metrics_port, runtime_error
from .thread_clients import ThreadClients, quiet_gevent_hub

PROTOCOLS = ("http", "grpc")
URL_FORMS = "host:port, http://host:port or grpc://host:port"
_ADDRESS = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(?P<port>[0-9]{1,5})$")  # host or [IPv6], port
Outputs = dict[str, np.ndarray]
_T = TypeVar("_T")
_DTYPES = {np.dtype(np.float32): "FP32", np.dtype(np.float16): "FP16", np.dtype(np.int64): "INT64",
           np.dtype(np.int32): "INT32", np.dtype(np.bool_): "BOOL", np.dtype(np.uint8): "UINT8",
           np.dtype(object): "BYTES"}
# gRPC reconnects with a backoff from 1 s growing 1.6x to 120 s: after a server restart a client kept failing
# until its next attempt (9.2 s after the new server was ready, measured). Here: from 0.25 s up to 0.5 s.
GRPC_RECONNECT = (("grpc.initial_reconnect_backoff_ms", 250), ("grpc.max_reconnect_backoff_ms", 500),
                  ("grpc.dns_min_time_between_resolutions_ms", 1000))  # a restarted pod may have a new address
# gRPC's documented environment variable: how often its timer thread polls client channels when no call waits
# (calls to a server that is down fail at once, so only this poll sees a reconnection succeed; default 5000).
GRPC_BACKUP_POLL = ("GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS", "250")


def client_module(protocol: str) -> ModuleType:
    """``tritonclient.http`` or ``tritonclient.grpc``; BackendUnavailableError naming the extra when missing."""
    try:
        if protocol == "grpc":
            os.environ.setdefault(*GRPC_BACKUP_POLL)  # read when gRPC first starts in this process
            import tritonclient.grpc as module
        else:
            import tritonclient.http as module
    except ImportError as error:
        raise BackendUnavailableError(
            f"{missing_extra(f'the Triton {protocol} client', 'triton')} ({error})"
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
    """tritonclient's client (HTTP: one per calling thread): readiness, model config and metadata, and
    ``infer_many`` (concurrent, in order)."""

    def __init__(self, url: str, *, timeout_s: float = 60.0, max_in_flight: int = 8) -> None:
        for name, value in (("timeout_s", timeout_s), ("max_in_flight", max_in_flight)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise InputError(f"{name} must be a positive number, got {value!r}")
        self.protocol, self.address = split_url(url)
        self.url = f"{self.protocol}://{self.address}"
        self.module = client_module(self.protocol)
        self.timeout_s, self.max_in_flight = float(timeout_s), int(max_in_flight)
        self.closed = False
        make = partial(self.module.InferenceServerClient, self.address, **self._client_options())
        self._per_thread = ThreadClients(make, check_open=self.check_open) if self.protocol == "http" else None
        self._shared = self._call("", make) if self._per_thread is None else None
        self._call("", lambda: self.client)  # this thread's HTTP client now: one that cannot be made fails here

    @property
    def client(self) -> Any:
        """The client the calling thread uses: over HTTP its own (``thread_clients``), over gRPC the one
        thread-safe client."""
        return self._shared if self._per_thread is None else self._per_thread.get()

    def _client_options(self) -> dict[str, Any]:
        """The HTTP client's concurrency and timeouts; the gRPC channel's arguments: tritonclient's defaults
        (``channel_args`` replaces them all) plus a bounded reconnect backoff (``GRPC_RECONNECT``)."""
        if self.protocol == "http":
            return {"concurrency": self.max_in_flight, "connection_timeout": self.timeout_s,
                    "network_timeout": self.timeout_s}
        keepalive = self.module.KeepAliveOptions()
        return {"channel_args": [
            ("grpc.max_send_message_length", self.module.MAX_GRPC_MESSAGE_SIZE),
            ("grpc.max_receive_message_length", self.module.MAX_GRPC_MESSAGE_SIZE),
            ("grpc.keepalive_time_ms", keepalive.keepalive_time_ms),
            ("grpc.keepalive_timeout_ms", keepalive.keepalive_timeout_ms),
            ("grpc.keepalive_permit_without_calls", keepalive.keepalive_permit_without_calls),
            ("grpc.http2.max_pings_without_data", keepalive.http2_max_pings_without_data),
            *GRPC_RECONNECT]}

    @property
    def _timeout(self) -> dict[str, float]:
        """The per-call timeout keyword (gRPC; the HTTP client has its timeouts from construction)."""
        return {"client_timeout": self.timeout_s} if self.protocol == "grpc" else {}

    def _call(self, model: str, call: Callable[[], _T]) -> _T:
        self.check_open()
        try:
            return call()
        except (BeitDeployError, RequestFailure):
            raise
        except Exception as error:  # the client library's and the socket's errors, classified by type and status
            if self.closed:  # closed by another thread while this call was in flight ("Channel closed!")
                raise self._closed_error() from error
            raise (self._wrong_port(error)
                   or runtime_error(error, model=model, url=self.url, timeout_s=self.timeout_s)) from error

    def _wrong_port(self, error: Exception) -> ServerError | None:
        """ServerError naming the fix when an HTTP answer that is not JSON came from Triton's metrics port."""
        if self.protocol != "http" or not isinstance(error, ValueError):
            return None
        if not is_metrics_port(f"http://{self.address}", timeout_s=min(self.timeout_s, 5.0)):
            return None
        return ServerError(f"Triton at {self.url}: {METRICS_PORT_HINT}")

    def check_open(self, *, owner: str = "") -> None:
        """ModelClosedError once ``close()`` was called (``owner``: what the error calls the closed client)."""
        if self.closed:
            raise self._closed_error(owner)

    def _closed_error(self, owner: str = "") -> ModelClosedError:
        return ModelClosedError(f"this {owner or 'client'} of {self.url} is closed: create a new one (a with block "
                                "closes it at its end)")

    def close(self) -> None:
        """Close every thread's client; any thread's next call raises ModelClosedError."""
        self.closed = True
        if self._per_thread is not None:
            self._per_thread.close()
        elif self._shared is not None:
            self._shared.close()

    def server_ready(self) -> bool:
        return bool(self._call("", lambda: self.client.is_server_ready(**self._timeout)))

    def model_ready(self, model: str, version: str = "") -> bool:
        return bool(self._call(model, lambda: self.client.is_model_ready(model, version, **self._timeout)))

    def repository_index(self) -> list[dict[str, Any]]:
        """One entry (``name``, ``version``, ``state``) per model in the server's repository, loaded or not."""
        if self.protocol == "http":
            index = self._call("", lambda: self.client.get_model_repository_index(**self._timeout))
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

    def infer_many(self, model: str, requests: Iterable[Mapping[str, np.ndarray]], outputs: Sequence[str],
                   *, version: str = "", names: Sequence[str] = ()) -> list[Outputs]:
        """Every request's outputs, in order (``infer_iter``, read to the end)."""
        return list(self.infer_iter(model, requests, outputs, version=version, names=names))

    def infer_iter(self, model: str, requests: Iterable[Mapping[str, np.ndarray]], outputs: Sequence[str],
                   *, version: str = "", names: Sequence[str] = ()) -> Iterator[Outputs]:
        """Each request's outputs, in order, drawing a request only while fewer than ``max_in_flight`` are held
        (see the module docstring). Raises the first error, naming the request that failed by its entry in
        ``names`` (e.g. the image file it carries)."""
        self.check_open()
        send = self._send_http if self.protocol == "http" else self._send_grpc
        answers = self._stream(model, requests, outputs, version, send)
        while True:
            try:
                answer = self._call(model, lambda: next(answers, None))
            except RequestFailure as failure:
                if self.closed:  # closed by another thread while this request was in flight
                    raise self._closed_error() from failure.error
                request = names[failure.index] if failure.index < len(names) else f"request {failure.index}"
                raise runtime_error(failure.error, model=model, url=self.url, timeout_s=self.timeout_s,
                                    request=request) from failure.error
            if answer is None:
                return
            yield answer

    def _stream(self, model: str, requests: Iterable[Mapping[str, np.ndarray]], outputs: Sequence[str],
                version: str, send: Callable[..., Callable[[], Any]]) -> Iterator[Outputs]:
        """Send each request (``send``: a function waiting for its answer), the oldest answered first once
        ``max_in_flight`` are held."""
        pending: deque[tuple[int, Callable[[], Any]]] = deque()
        feeds, index = iter(requests), 0
        while True:
            if len(pending) >= self.max_in_flight:
                yield _answer(*pending.popleft(), outputs)
            request = next(feeds, None)  # drawn (an image read and encoded) only now that one is free
            if request is None:
                break
            pending.append((index, send(model, request, outputs, version)))
            index += 1
        while pending:
            yield _answer(*pending.popleft(), outputs)

    def _send_http(self, model: str, feeds: Mapping[str, np.ndarray], outputs: Sequence[str],
                   version: str) -> Callable[[], Any]:
        wanted = [self.module.InferRequestedOutput(name, binary_data=True) for name in outputs]
        quiet_gevent_hub()
        request = self.client.async_infer(model, self.inputs(feeds), model_version=version, outputs=wanted)
        answer: Callable[[], Any] = request.get_result
        return answer

    def _send_grpc(self, model: str, feeds: Mapping[str, np.ndarray], outputs: Sequence[str],
                   version: str) -> Callable[[], Any]:
        wanted = [self.module.InferRequestedOutput(name) for name in outputs]
        box: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(maxsize=1)
        self.client.async_infer(model, self.inputs(feeds), model_version=version, outputs=wanted,
                                client_timeout=self.timeout_s, callback=lambda result, error: box.put((result, error)))

        def answer() -> Any:
            """The answer (queue.Empty, classified as a timeout, when none comes well after the deadline)."""
            result, error = box.get(timeout=self.timeout_s + 5)
            if error is not None:
                raise error
            return result
        return answer


def _answer(index: int, answer: Callable[[], Any], outputs: Sequence[str]) -> Outputs:
    """Request ``index``'s outputs once answered; RequestFailure naming the index when it failed."""
    try:
        result = answer()
    except Exception as error:  # the client library's, typed by infer_iter
        raise RequestFailure(index, error) from error
    return {name: result.as_numpy(name) for name in outputs}
