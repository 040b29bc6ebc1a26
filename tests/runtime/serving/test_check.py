"""``beit-serve --check URL``: the startup probe makes one real inference per ensemble on a real server and
exits 0; it exits 1 with a reason when nothing listens, the URL is the gRPC port, a named model does not
exist, the time is too short to answer or a model is unloaded. ``--check-live`` (the liveness probe)
makes no inference: it passes on a server whose queues are full while the inference check times out.
The unload happens on a server of this file's own, never the shared one."""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time
import urllib.request

import cv2
import numpy as np
import pytest

from beit_export.cli import main as beit_export
from beit_runtime.errors import ServeOptionError, ServerError
from beit_runtime.serving.check import Server, base_url, check, check_image, expected_outputs, infer, model_path, verify
from beit_runtime.serving.launcher import free_port
from tests.runtime.serving.triton_server import endpoints, serve_command, start_beit_serve

OK_LINE = re.compile(r"beit-serve: check ok: (.+)")


def run_check(url: str, *args: str) -> tuple[int, str, float]:
    """(exit code, stdout, wall seconds) of ``beit-serve --check URL ARGS`` in a process of its own."""
    start = time.monotonic()
    done = subprocess.run(serve_command("--check", url, *args), capture_output=True, text=True, timeout=60,
                          check=False)
    return done.returncode, done.stdout.strip(), time.monotonic() - start


def checked_models(line: str) -> list[str]:
    match = OK_LINE.fullmatch(line)
    assert match, line
    return [re.fullmatch(r"(\S+) \(\d+ ms\)", item).group(1) for item in match.group(1).split(", ")]


def test_check_ok_asks_every_ensemble(served):
    code, line, wall = run_check(f"http://{served.http}")
    assert code == 0, line
    assert checked_models(line) == ["cls", "feat", "layers", "multi", "seg"]  # the ensembles, not their parts
    assert wall < 5.0
    code, line, _ = run_check(served.http, "--check-model", "seg", "--check-timeout", "10")  # a bare HOST:PORT too
    assert code == 0 and checked_models(line) == ["seg"], line


@pytest.mark.parametrize("args, reason", [
    (("--check-model", "nope"), r"no model nope on the server \(it has .*cls.*\); fix --check-model"),
    (("--check-model", "cls_engine"), r"model cls_engine does not take one encoded 'image'"),
    (("--check-timeout", "0.001"), r"--check-timeout 0.001 s"),
])
def test_check_fails_with_a_reason(served, args, reason):
    code, line, _ = run_check(f"http://{served.http}", *args)
    assert code == 1 and line.startswith("beit-serve: check failed: "), line
    assert re.search(reason, line), line


def test_check_of_the_grpc_port_says_so(served):
    done = subprocess.run(serve_command("--check", f"http://{served.grpc}"), capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 1 and done.stderr == "", done.stderr[-2000:]  # no traceback
    assert done.stdout.startswith(f"beit-serve: check failed: http://{served.grpc} is not an HTTP endpoint (the gRPC "
                                  "port?)"), done.stdout
    assert done.stdout.count("\n") == 1


def test_check_live_asks_no_model(served):
    code, line, wall = run_check(f"http://{served.http}", "--check-live")
    assert code == 0 and wall < 5.0, line
    match = re.fullmatch(r"beit-serve: check ok: live; ready: (.+) \(\d+ ms\)", line)
    assert match, line
    assert {"cls", "cls_engine", "cls_postprocess", "cls_preprocess", "seg"} <= set(match.group(1).split(", "))
    code, line, _ = run_check(f"http://{served.http}", "--check-live", "--check-model", "nope")
    assert code == 1 and "no model nope on the server" in line, line


class SegmentationLoad:
    """``clients`` threads, each keeping one large segmentation request in flight on ``model`` until ``stop``."""

    def __init__(self, http: str, model: str, *, clients: int, image: bytes) -> None:
        self.url, self.model, self.image = f"http://{http}", model, image
        self.answered, self.errors, self.stopped = 0, [], threading.Event()
        config = Server(self.url, timeout_s=30).json(f"{model_path(model)}/config", what="config")
        self.outputs = expected_outputs(config)
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def __enter__(self) -> SegmentationLoad:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        for thread in self.threads:
            thread.join(180)

    def _client(self) -> None:
        while not self.stopped.is_set():
            try:
                infer(Server(self.url, timeout_s=120), self.model, self.outputs, self.image)
                self.answered += 1
            except Exception as error:  # counted: every request of a busy but healthy server must be answered
                self.errors.append(f"{type(error).__name__}: {error}")


def large_photo(height: int = 1800, width: int = 2400) -> bytes:
    """A large, noisy PNG: slow to decode, preprocess and answer at its size."""
    noise = np.random.default_rng(0).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    return cv2.imencode(".png", noise)[1].tobytes()


def test_check_live_passes_while_the_queues_are_full(served):
    url = f"http://{served.http}"
    with SegmentationLoad(served.http, "seg", clients=32, image=large_photo()) as load:
        time.sleep(3.0)  # every client has a request queued (measured: a new one waits ~5 s on 2 cores)
        full = run_check(url, "--check-model", "seg", "--check-timeout", "1")
        live = [run_check(url, "--check-live", "--check-timeout", "2") for _ in range(3)]
        busy = load.answered
    assert full[0] == 1 and "no answer to seg's inference within --check-timeout 1 s" in full[1], full
    for code, line, wall in live:
        assert code == 0 and wall < 5.0, line
    assert load.errors == [] and busy > 0 and load.answered > busy  # requests kept being answered meanwhile


def test_check_fails_when_nothing_listens():
    code, line, _ = run_check(f"http://127.0.0.1:{free_port()}")
    assert code == 1 and "check failed: nothing answers at http://127.0.0.1:" in line, line


def test_bad_urls_and_timeouts_are_usage_errors():
    assert base_url("127.0.0.1:8000/") == "http://127.0.0.1:8000"
    with pytest.raises(ServeOptionError, match="not an HTTP URL"):
        base_url("ftp://host:21")
    with pytest.raises(ServeOptionError, match="--check-timeout must be more than 0"):
        check("http://127.0.0.1:1", timeout_s=0)
    assert check_image()[:8] == b"\x89PNG\r\n\x1a\n"


def test_answers_are_checked_against_the_config():
    spec = {"name": "scores", "data_type": "TYPE_FP32", "dims": [3]}
    good = ("FP32", [1, 3], np.array([0.5, 0.3, 0.2], dtype="<f4").tobytes())
    verify("cls", [spec], {"scores": good})
    with pytest.raises(ServerError, match="without its output 'scores'"):
        verify("cls", [spec], {})
    with pytest.raises(ServerError, match=r"is INT32\[1, 3\], its config says FP32\[1, 3\]"):
        verify("cls", [spec], {"scores": ("INT32", [1, 3], good[2])})
    with pytest.raises(ServerError, match="non-finite"):
        verify("cls", [spec], {"scores": ("FP32", [1, 3], np.array([0.5, np.nan, 0.2], dtype="<f4").tobytes())})
    segmentation = {"name": "segmentation", "data_type": "TYPE_INT32", "dims": [-1, -1]}
    verify("seg", [segmentation], {"segmentation": ("INT32", [1, 48, 64], bytes(48 * 64 * 4))})


@pytest.fixture(scope="module")
def mim_repository(beit_mim_artifact, tmp_path_factory):
    output = tmp_path_factory.mktemp("check") / "mim"
    assert beit_export(["triton", str(beit_mim_artifact), "--output", str(output), "--name", "mim",
                        "--model-backend", "python"]) == 0
    return output


def test_check_reports_an_unloaded_model_and_masked_image_modeling(serve_layout, repositories, mim_repository,
                                                                    tmp_path):
    process, ready = start_beit_serve([repositories["cls"], mim_repository], log=tmp_path / "server.log")
    try:
        http, _ = endpoints(ready)
        code, line, _ = run_check(http)
        assert code == 0 and checked_models(line) == ["cls"], line
        code, line, _ = run_check(http, "--check-model", "mim_preprocess")  # no ensemble: its preprocessing answers
        assert code == 0 and checked_models(line) == ["mim_preprocess"], line
        request = urllib.request.Request(f"http://{http}/v2/repository/models/cls/unload", data=b"{}", method="POST")
        with urllib.request.urlopen(request, timeout=30) as reply:
            assert reply.status == 200
        code, line, _ = run_check(http)
        assert code == 1 and "check failed: model cls is UNAVAILABLE (unloaded)" in line, line
        code, line, _ = run_check(http, "--check-model", "mim_preprocess")  # other models still answer
        assert code == 0, line
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0


def test_masked_image_modeling_alone_checks_its_preprocessing(serve_layout, mim_repository, tmp_path):
    process, ready = start_beit_serve([mim_repository], log=tmp_path / "server.log")
    try:
        code, line, _ = run_check(endpoints(ready)[0])
        assert code == 0 and checked_models(line) == ["mim_preprocess"], line
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
