"""``beit-serve`` stops cleanly under load (issue 19, item 1): SIGTERM with keep-alive clients connected and
requests in flight turns readiness false before the server goes, lets no request get a wrong answer, exits 0
within ``--grace-period`` and leaves no stub process or /dev/shm region behind."""

from __future__ import annotations

import signal
import subprocess
import threading
import time

from beit_runtime import Classifier
from tests.runtime.serving.triton_server import (
    ClientLoad,
    endpoints,
    leftovers,
    readiness,
    serve_command,
    signature,
    start_beit_serve,
)

GRACE_PERIOD_S = 20


def watch_readiness(http: str, process: subprocess.Popen, seen: list[int]) -> threading.Thread:
    """Poll readiness every 20 ms until beit-serve exits; the statuses go to ``seen`` (0: no answer)."""
    def poll() -> None:
        while process.poll() is None:
            seen.append(readiness(http))
            time.sleep(0.02)
    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    return thread


def test_sigterm_with_connected_clients_and_requests_in_flight(serve_layout, repositories, beit_classifier_artifact,
                                                                photo_bytes, tmp_path):
    with Classifier(beit_classifier_artifact, batch_size=1) as local:
        want = signature(local(photo_bytes[0], top_k=5))
    process, line = start_beit_serve([repositories["cls"]], log=tmp_path / "server.log",
                                     extra=["--grace-period", str(GRACE_PERIOD_S)])
    http, _ = endpoints(line)
    load = ClientLoad(http, photo_bytes[0], want).start()  # 8 connected clients after 64 requests, 4 of them busy
    try:
        time.sleep(0.5)
        answered_before = load.correct
        seen: list[int] = []
        watcher = watch_readiness(http, process, seen)
        start = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(GRACE_PERIOD_S + 10)
        took = time.monotonic() - start
        watcher.join(10)
    finally:
        process.kill()
        load.stop()
    log = (tmp_path / "server.log").read_text()
    assert code == 0, log[-3000:]
    assert took < GRACE_PERIOD_S, took
    assert 400 in seen, seen  # readiness turned false while the server still answered
    assert 200 not in seen[seen.index(400):], seen  # and stayed false
    assert load.wrong == [], load.wrong[:3]
    assert load.correct > answered_before  # requests kept being answered under load until the stop
    assert "Non-graceful termination" not in log and "Exit timeout expired" not in log
    assert leftovers(process.pid) == []


def test_a_request_limit_the_server_cannot_set_is_a_usage_error(serve_layout, repositories):
    """Triton 2.51 has no --http-max-input-size (nor a limit of its own): only the default is accepted."""
    done = subprocess.run(serve_command(str(repositories["cls"]), "--tritonserver", str(serve_layout.binary),
                                        "--max-request-mb", "16"), capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 2 and "has no --http-max-input-size" in done.stderr, done.stderr
    done = subprocess.run(serve_command("--help"), capture_output=True, text=True, timeout=60, check=False)
    assert "--grace-period" in done.stdout and "--max-request-mb" in done.stdout and "Not watched" not in done.stdout
