"""Every transport failure ends as one of beit_runtime's typed errors, over HTTP and gRPC, against the real
server of ``tests.runtime.serving.triton_server``: no server at the port, a request that outlives its
timeout, an unknown model or version; classified by exception type and status code. Bad requests (inputs,
sizes, bombs, batches) are in ``tests/runtime/serving/test_bad_requests.py``."""

from __future__ import annotations

import queue
import time

import numpy as np
import pytest
from tritonclient.utils import InferenceServerException

from beit_runtime.errors import (
    ArtifactError,
    BeitDeployError,
    ImageDecodeError,
    ServerError,
    ServerTimeoutError,
    ServerUnavailableError,
)
from beit_runtime.remote import RemoteClassifier
from beit_runtime.remote.failures import STATUS_ERRORS, error_class, runtime_error
from beit_runtime.remote.transport import Transport
from beit_runtime.serving.launcher import free_port

PROTOCOLS = ("http", "grpc")
STATUS = {"http": {"not_found": "404"}, "grpc": {"not_found": "StatusCode.NOT_FOUND"}}


def url(address: str, protocol: str) -> str:
    return f"{protocol}://{address}"


def address(served, protocol: str) -> str:
    return served.http if protocol == "http" else served.grpc


def image_request(data: bytes) -> dict[str, np.ndarray]:
    return {"image": np.array([[data]], dtype=object)}


def status_of(error: BaseException) -> str:
    cause = error.__cause__
    assert isinstance(cause, InferenceServerException), repr(cause)
    return str(cause.status())


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_no_server_at_the_port(protocol, photo_bytes):
    closed = url(f"127.0.0.1:{free_port()}", protocol)
    transport = Transport(closed, timeout_s=5)
    try:
        with pytest.raises(ServerUnavailableError, match="beit-serve REPO"):
            transport.infer_many("cls", [image_request(photo_bytes[0])], ["labels"])
        with pytest.raises(ServerUnavailableError):
            transport.model_config("cls")
    finally:
        transport.close()
    start = time.monotonic()
    with pytest.raises(ServerUnavailableError, match=r"waited 0\.5 s for model 'cls' to be ready"):
        RemoteClassifier(closed, "cls", ready_timeout_s=0.5)
    assert time.monotonic() - start >= 0.5  # it polled for the whole timeout


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_request_that_outlives_its_timeout(served, protocol, photo_bytes):
    transport = Transport(url(address(served, protocol), protocol), timeout_s=0.001)
    try:
        with pytest.raises(ServerTimeoutError, match=r"no answer within 0\.001 s") as caught:
            transport.infer_many("cls", [image_request(photo_bytes[0])], ["labels"])
    finally:
        transport.close()
    if protocol == "grpc":
        assert status_of(caught.value) == "StatusCode.DEADLINE_EXCEEDED"
    else:
        assert isinstance(caught.value.__cause__, TimeoutError)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_unknown_model_or_version(served, protocol, photo_bytes):
    transport = Transport(url(address(served, protocol), protocol))
    try:
        with pytest.raises(ArtifactError, match="unknown model") as caught:
            transport.infer_many("no_such_model", [image_request(photo_bytes[0])], ["labels"])
        assert status_of(caught.value) == STATUS[protocol]["not_found"]
        with pytest.raises(ArtifactError, match="version 7"):
            transport.infer_many("cls", [image_request(photo_bytes[0])], ["labels"], version="7")
        with pytest.raises(ArtifactError, match="unknown model"):
            transport.model_config("no_such_model")
    finally:
        transport.close()
    start = time.monotonic()
    with pytest.raises(ArtifactError, match="unknown model"):
        RemoteClassifier(url(address(served, protocol), protocol), "cls", model_version="7")
    assert time.monotonic() - start < 30  # refused at once, not after the 120 s ready timeout


def test_a_grpc_url_naming_the_http_port_says_so_at_once(served):
    start = time.monotonic()
    with pytest.raises(ServerUnavailableError, match=r"is Triton's HTTP port, not its gRPC port: use http://"):
        RemoteClassifier(f"grpc://{served.http}", "cls", ready_timeout_s=60)
    assert time.monotonic() - start < 30  # not after the 60 s ready timeout, as 'Socket closed'


@pytest.mark.parametrize("status, expected", sorted(STATUS_ERRORS.items()))
def test_each_status_code_has_its_typed_error(status, expected):
    error = runtime_error(InferenceServerException("the server's text", status=status), model="m", url="u", timeout_s=1)
    assert type(error) is expected and "the server's text" in str(error)


def test_errors_without_a_status_are_classified_by_type():
    assert error_class(TimeoutError("timed out")) is ServerTimeoutError
    assert error_class(queue.Empty()) is ServerTimeoutError
    assert error_class(ConnectionRefusedError(111, "Connection refused")) is ServerUnavailableError
    tagged = InferenceServerException("[beit_runtime.ImageDecodeError] bad", status="400")
    assert error_class(tagged) is ImageDecodeError
    assert error_class(InferenceServerException("[beit_runtime.NoSuchError] x", status="500")) is ServerError
    assert error_class(InferenceServerException("internal", status="StatusCode.INTERNAL")) is ServerError
    assert all(issubclass(kind, BeitDeployError) for kind in STATUS_ERRORS.values())


@pytest.mark.parametrize("status", ["404", "StatusCode.NOT_FOUND"])
def test_a_known_model_without_a_ready_version_is_unavailable_not_unknown(status):
    """Triton's answer while a crashed python stub reloads, or while the server stops: retry, not a typo."""
    answer = InferenceServerException("Request for unknown model: 'cls' has no available versions", status=status)
    error = runtime_error(answer, model="cls", url="http://h:8000", timeout_s=1)
    assert type(error) is ServerUnavailableError
    assert "the server is loading, reloading or stopping it; retry" in str(error)
    unknown = InferenceServerException("Request for unknown model: 'clss' is not found", status=status)
    assert type(runtime_error(unknown, model="clss", url="u", timeout_s=1)) is ArtifactError


def test_a_connection_the_server_closed_is_unavailable():
    from geventhttpclient.response import HTTPConnectionClosed

    assert error_class(HTTPConnectionClosed("connection closed.")) is ServerUnavailableError
    assert STATUS_ERRORS["StatusCode.CANCELLED"] is ServerUnavailableError


def test_a_failed_http_request_prints_no_traceback_of_its_own(tmp_path):
    """tritonclient's HTTP client sends from gevent greenlets, whose hub prints every failure's traceback on
    stderr; the failure is raised typed, so nothing else may reach stderr."""
    import subprocess
    import sys

    script = (
        "import numpy as np\n"
        "from beit_runtime.errors import ServerUnavailableError\n"
        "from beit_runtime.remote.transport import Transport\n"
        f"transport = Transport('http://127.0.0.1:{free_port()}', timeout_s=2)\n"
        "try:\n"
        "    transport.infer_many('cls', [{'image': np.array([[b'x']], dtype=object)}] * 3, ['labels'])\n"
        "except ServerUnavailableError:\n"
        "    print('typed')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert result.stdout.strip() == "typed" and result.stderr == "", result.stderr[-2000:]
