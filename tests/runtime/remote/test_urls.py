"""Server URLs are checked before any client is made: anything but host:port, http://host:port or
grpc://host:port (port 1-65535) is an InputError showing those forms, and no half-made tritonclient
object is left to complain at exit."""

from __future__ import annotations

import subprocess
import sys

import pytest

from beit_runtime.errors import InputError
from beit_runtime.remote import RemoteClassifier
from beit_runtime.remote.transport import Transport, split_url

FORMS = "host:port, http://host:port or grpc://host:port"


@pytest.mark.parametrize("url", ["nota:url:x", "host", "host:abc", "host:70000", "host:0", "a b:80",
                                 "example.com:80/path", "", "http://", "https://127.0.0.1:8000", "ftp://h:1"])
def test_a_malformed_url_is_an_input_error_showing_the_forms(url):
    with pytest.raises(InputError, match=FORMS):
        RemoteClassifier(url, "cls", ready_timeout_s=0)
    with pytest.raises(InputError, match=FORMS):
        Transport(url)


@pytest.mark.parametrize(("url", "expected"), [
    ("127.0.0.1:8000", ("http", "127.0.0.1:8000")), ("http://localhost:8000/", ("http", "localhost:8000")),
    ("grpc://triton.svc.cluster.local:8001", ("grpc", "triton.svc.cluster.local:8001")),
    ("[::1]:8000", ("http", "[::1]:8000")),
])
def test_well_formed_urls_split(url, expected):
    assert split_url(url) == expected


def test_no_half_made_client_complains_at_exit():
    code = ("from beit_runtime.errors import InputError\n"
            "from beit_runtime.remote import RemoteClassifier\n"
            "try:\n    RemoteClassifier('nota:url:x', 'cls')\nexcept InputError as error:\n    print(error)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert FORMS in done.stdout and done.stderr == ""
