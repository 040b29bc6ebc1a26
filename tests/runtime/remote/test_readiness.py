"""``RemoteModel`` waits for the server and the model to be ready (``ready_timeout_s``), as pytriton's
ModelClient does: a client made while ``beit-serve`` is still starting answers once the models are up,
and a timeout raises a typed error saying what it waited for and how long."""

from __future__ import annotations

import signal

import pytest

from beit_export import __version__
from beit_runtime import Classifier
from beit_runtime.errors import InputError, ServerUnavailableError
from beit_runtime.remote import RemoteClassifier
from beit_runtime.serving.launcher import free_port
from tests.runtime.serving.triton_server import launch_beit_serve


def test_a_client_made_while_the_server_starts_waits_for_it(serve_layout, repositories, beit_classifier_artifact,
                                                          photo_bytes, tmp_path):
    http_port, grpc_port = free_port(), free_port()
    process = launch_beit_serve([repositories["cls"]], log=tmp_path / "server.log",
                                extra=["--http-port", str(http_port), "--grpc-port", str(grpc_port)])
    try:
        with pytest.raises(ServerUnavailableError, match=r"waited 0\.2 s for model 'cls' to be ready at http://"):
            RemoteClassifier(f"127.0.0.1:{http_port}", "cls", ready_timeout_s=0.2)  # the models are still loading
        with RemoteClassifier(f"grpc://127.0.0.1:{grpc_port}", "cls", ready_timeout_s=120) as remote, \
                Classifier(beit_classifier_artifact, batch_size=1) as local:
            assert remote.ready_after_s > 0
            assert remote.served_version() == "1" and remote.beit_deploy_version == __version__
            assert [p.id for p in remote(photo_bytes[0], top_k=5)] == [p.id for p in local(photo_bytes[0], top_k=5)]
        with RemoteClassifier(f"127.0.0.1:{http_port}", "cls", ready_timeout_s=0, model_version="1") as pinned:
            assert pinned.served_version() == "1" and pinned.ready_after_s < 5  # ready now: one probe
            assert len(pinned(photo_bytes[1], top_k=2)) == 2
    finally:
        process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 0


@pytest.mark.parametrize("value", [-1, "5", True])
def test_ready_timeout_must_be_seconds(value):
    with pytest.raises(InputError, match="ready_timeout_s"):
        RemoteClassifier("127.0.0.1:1", "cls", ready_timeout_s=value)
