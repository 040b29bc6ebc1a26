"""``beit-serve`` supervises its server (issue 19, item 2): a python stub killed from outside (the OOM killer)
turns readiness false and its model is reloaded, with no wrong answer in between; a stub killed again while its
model reloads gets the reload retried, and a model whose new stubs keep dying stops the server with exit 1 and a
line saying why; a killed tritonserver makes beit-serve exit 1 at once, leaving no stub or /dev/shm region
behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from beit_runtime import Classifier
from beit_runtime.remote import RemoteClassifier
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


def start_classifier_server(repositories, artifact, photo_bytes, tmp_path):
    """beit-serve on the classifier repository (its stderr in tmp_path/stderr.txt): the answer expected for
    photo 1, the process, its HTTP endpoint and its stubs' /dev/shm prefix."""
    with Classifier(artifact, batch_size=1) as local:
        want = signature(local(photo_bytes[1], top_k=5))
    with open(tmp_path / "stderr.txt", "w", encoding="utf-8") as stderr:
        process, line = start_beit_serve([repositories["cls"]], log=tmp_path / "server.log", stderr=stderr)
    http, _ = endpoints(line)
    return want, process, http, f"beit_serve_{process.pid}_"


def test_a_killed_stub_is_reloaded_without_a_wrong_answer(serve_layout, repositories, beit_classifier_artifact,
                                                          photo_bytes, tmp_path):
    want, process, http, prefix = start_classifier_server(repositories, beit_classifier_artifact, photo_bytes, tmp_path)
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


def initializing(pid: int) -> bool:
    """Whether the engine stub ``pid`` runs its model's initialize (ONNX Runtime mapped): past the moment it reports
    to Triton. (A stub killed before that makes Triton 2.51's load wait forever; killed after it, the load fails.)"""
    try:
        return "onnxruntime" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def next_stub(prefix: str, model: str, *, besides: set[int], timeout_s: float = 30) -> int:
    """The pid of a stub of ``model`` that is not one of ``besides``, once it initializes its model (polled every
    5 ms)."""
    found: list[int] = []

    def appeared() -> bool:
        found[:] = [pid for pid, name in stub_processes(prefix).items()
                    if name == model and pid not in besides and initializing(pid)]
        return bool(found)

    start = time.monotonic()
    while not appeared():
        assert time.monotonic() - start < timeout_s, f"no new stub of {model} within {timeout_s} s"
        time.sleep(0.005)
    return found[0]


def test_a_stub_killed_again_while_its_model_reloads_is_reloaded_again(serve_layout, repositories,
                                                                       beit_classifier_artifact, photo_bytes,
                                                                       tmp_path):
    want, process, http, prefix = start_classifier_server(repositories, beit_classifier_artifact, photo_bytes, tmp_path)
    messages = (tmp_path / "stderr.txt").read_text
    try:
        first = next(pid for pid, model in stub_processes(prefix).items() if model == "cls_engine")
        os.kill(first, signal.SIGKILL)
        second = next_stub(prefix, "cls_engine", besides={first})  # the replacement, while its model loads
        os.kill(second, signal.SIGKILL)
        wait_for(lambda: "reloaded in" in messages() or process.poll() is not None, timeout_s=RECOVERY_TIMEOUT_S,
                 what="the reload after the second death")
        assert process.poll() is None, messages()
        with RemoteClassifier(http, "cls") as client:
            assert [signature(client.classify(photo_bytes[1], top_k=5)) for _ in range(5)] == [want] * 5
        assert "cls_engine" in stub_processes(prefix).values()
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
    said = messages()
    assert "beit-serve: reloading cls_engine after its stub died failed (" in said and "attempt 2 of 3 in 1 s" in said
    assert "beit-serve: stub of cls_engine died; reloaded in" in said and code == 0, said
    assert leftovers(process.pid) == []


def test_a_model_whose_new_stubs_keep_dying_stops_the_server_saying_why(serve_layout, repositories, tmp_path):
    with open(tmp_path / "stderr.txt", "w", encoding="utf-8") as stderr:
        process, _ = start_beit_serve([repositories["cls"]], log=tmp_path / "server.log", stderr=stderr)
    prefix = f"beit_serve_{process.pid}_"
    killed: set[int] = set()

    def kill_every_engine_stub() -> None:  # the OOM killer striking each new stub of cls_engine
        while process.poll() is None:
            for pid, model in stub_processes(prefix).items():
                if model == "cls_engine" and pid not in killed and initializing(pid):
                    killed.add(pid)
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)

    killer = threading.Thread(target=kill_every_engine_stub, daemon=True)
    killer.start()
    try:
        code = process.wait(RECOVERY_TIMEOUT_S)
    finally:
        process.kill()
        killer.join(10)
    said = (tmp_path / "stderr.txt").read_text()
    assert code == 1, said
    assert "attempt 2 of 3 in 1 s" in said and "attempt 3 of 3 in 4 s" in said
    assert "beit-serve: error: the stub of cls_engine died and reloading the model failed 3 times" in said
    assert "stopping tritonserver (every model) and exiting 1, for the orchestrator to restart beit-serve" in said
    assert len(killed) == 4  # the first stub and the three of the reloads
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
