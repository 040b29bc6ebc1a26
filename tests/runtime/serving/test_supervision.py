"""``beit-serve`` supervises its server (issue 19, item 2): a python stub killed from outside (the OOM killer)
turns readiness false and its model is reloaded, with no wrong answer in between; a killed tritonserver
makes beit-serve exit 1 at once, leaving no stub or /dev/shm region behind."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from beit_runtime import Classifier
from beit_runtime.serving.stubs import stub_processes
from tests.runtime.serving.triton_server import (
    ClientLoad,
    endpoints,
    leftovers,
    readiness,
    signature,
    start_beit_serve,
)

RECOVERY_TIMEOUT_S = 60


def wait_for(condition, *, timeout_s: float, what: str) -> float:
    """Poll ``condition()`` every 20 ms; the seconds it took to hold (fails after ``timeout_s``)."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout_s, f"{what}: not within {timeout_s} s"
        time.sleep(0.02)
    return time.monotonic() - start


def test_a_killed_stub_is_reloaded_without_a_wrong_answer(serve_layout, repositories, beit_classifier_artifact,
                                                          photo_bytes, tmp_path):
    with Classifier(beit_classifier_artifact, batch_size=1) as local:
        want = signature(local(photo_bytes[1], top_k=5))
    with open(tmp_path / "stderr.txt", "w", encoding="utf-8") as stderr:
        process, line = start_beit_serve([repositories["cls"]], log=tmp_path / "server.log", stderr=stderr)
    http, _ = endpoints(line)
    prefix = f"beit_serve_{process.pid}_"
    load = ClientLoad(http, photo_bytes[1], want, clients=4, busy=4, warmup=4).start()
    try:
        victim = next(pid for pid, model in stub_processes(prefix).items() if model == "cls_engine")
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: readiness(http) == 400, timeout_s=10, what="readiness false after the stub died")
        wait_for(lambda: readiness(http) == 200, timeout_s=RECOVERY_TIMEOUT_S, what="ready again")
        answered = load.correct
        wait_for(lambda: load.correct >= answered + 20, timeout_s=30, what="20 correct answers after the reload")
        assert victim not in stub_processes(prefix) and "cls_engine" in stub_processes(prefix).values()
    finally:
        load.stop()
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
    assert load.wrong == [], load.wrong[:3]
    messages = (tmp_path / "stderr.txt").read_text()
    assert "beit-serve: stub of cls_engine died; reloaded in" in messages
    assert "HTTP request bodies are not limited by the server" in messages  # Triton 2.51 has no size flag: said
    # the dead stub's own requests never end in Triton 2.51: then (only then) the later stop is not clean
    stuck = "cls_engine: the instance whose stub died still holds its requests"
    assert code == 0 or (code == 1 and stuck in messages), messages
    assert leftovers(process.pid) == []


def test_a_killed_server_makes_beit_serve_exit_1(serve_layout, repositories, tmp_path):
    process, _ = start_beit_serve([repositories["cls"]], log=tmp_path / "server.log")
    try:
        children = subprocess.run(["ps", "-o", "pid=,comm=", "--ppid", str(process.pid)], capture_output=True,
                                  text=True, check=True).stdout.split("\n")
        server = next(int(row.split()[0]) for row in children if row.strip().endswith("tritonserver"))
        assert stub_processes(f"beit_serve_{process.pid}_")  # the stubs this test expects to be cleaned up
        os.kill(server, signal.SIGKILL)
        start = time.monotonic()
        code = process.wait(30)
        took = time.monotonic() - start
    finally:
        process.kill()
    assert code == 1 and took < 5, (code, took)
    assert leftovers(process.pid) == []
    assert not list(Path("/dev/shm").glob(f"beit_serve_{process.pid}_*"))
