"""A Remote* client used after ``close()`` (or after its ``with`` block) raises ``ModelClosedError`` as the local
task classes do, before any request is made: no "connection pool closed" / "Channel closed!" ServerError, and
no gevent traceback on stderr (the HTTP client's greenlets printed one per request)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from beit_runtime.errors import ModelClosedError
from beit_runtime.remote import RemoteClassifier, RemoteSegmenter

PROTOCOLS = ("http", "grpc")


def url(served, protocol: str) -> str:
    return served.http if protocol == "http" else f"grpc://{served.grpc}"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_call_after_close_raises_model_closed(served, protocol, photo_bytes):
    remote = RemoteClassifier(url(served, protocol), "cls")
    remote.close()
    with pytest.raises(ModelClosedError, match=r"this RemoteClassifier of model 'cls' .* is closed: create a new one"):
        remote(photo_bytes[0], top_k=1)
    with pytest.raises(ModelClosedError):
        remote([photo_bytes[0], photo_bytes[1]])
    with pytest.raises(ModelClosedError):
        remote.served_version()
    with pytest.raises(ModelClosedError):
        remote.request({"image": photo_bytes[0]})
    with RemoteSegmenter(url(served, protocol), "seg") as segmenter:
        assert segmenter(photo_bytes[0]).labels.size > 0
    with pytest.raises(ModelClosedError, match="a with block closes it at its end"):
        segmenter(photo_bytes[0])


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_closed_client_prints_nothing_on_stderr(served, protocol):
    script = (
        "from beit_runtime.errors import ModelClosedError\n"
        "from beit_runtime.remote import RemoteClassifier\n"
        f"remote = RemoteClassifier({url(served, protocol)!r}, 'cls')\n"
        "remote.close()\n"
        "try:\n"
        "    remote([b'x'] * 3)\n"
        "except ModelClosedError:\n"
        "    print('closed')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert result.stdout.strip() == "closed" and result.stderr == "", result.stderr[-2000:]
