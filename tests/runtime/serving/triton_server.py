"""One real Triton server for the serving and remote-client tests, started by ``beit-serve`` on free loopback ports.

The server and its python environment come from ``beit-serve --setup`` (run here when missing,
bounded in time; ``.ci/run`` runs it first). It serves two repositories written by ``beit-export
triton --model-backend python`` from the tiny session artifacts: ``cls`` (classifier) and ``seg``
(segmenter). ``tests/runtime/conftest.py`` registers the fixtures for tests/runtime/serving and
tests/runtime/remote, so one session starts one server for both. ``ClientLoad`` keeps keep-alive
clients connected and busy while a test stops or breaks a server, and counts right, wrong and failed
answers.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import cv2
import numpy as np
import pytest
import skimage.data

from beit_export.cli import main as beit_export
from beit_runtime.remote import RemoteClassifier
from beit_runtime.serving.install import ServeLayout, serve_home, setup

SETUP_TIMEOUT_S = 600
READY_TIMEOUT_S = 120
PHOTO_NAMES = ("astronaut", "coffee", "chelsea", "rocket")


@dataclass(frozen=True)
class Served:
    http: str
    grpc: str
    repositories: dict[str, Path]
    process: subprocess.Popen


def serve_command(*args: str) -> list[str]:
    """``beit-serve ARGS`` as this interpreter runs it."""
    return [sys.executable, "-m", "beit_runtime.serving.server", *args]


def launch_beit_serve(repositories: Iterable[Path], *, log: Path, extra: Sequence[str] = (),
                      stderr: IO[str] | None = None) -> subprocess.Popen:
    """``beit-serve REPO...`` with its log in ``log``, not waited for (ports 0 unless ``extra`` names them);
    beit-serve's own messages go to ``stderr`` (default: this process's)."""
    ports = [] if "--http-port" in extra else ["--http-port", "0", "--grpc-port", "0"]
    return subprocess.Popen(serve_command(*map(str, repositories), *ports, "--log-file", str(log), "--ready-timeout",
                                          str(READY_TIMEOUT_S), *extra), stdout=subprocess.PIPE, stderr=stderr,
                            text=True)


def stop_beit_serve(process: subprocess.Popen, *, timeout_s: float = 60) -> None:
    """SIGTERM (beit-serve stops its tritonserver), then SIGKILL when it is still there after ``timeout_s``."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def start_beit_serve(repositories: Iterable[Path], *, log: Path, extra: Sequence[str] = (),
                     stderr: IO[str] | None = None) -> tuple[subprocess.Popen, str]:
    """``beit-serve REPO... --http-port 0 --grpc-port 0``; returns the process and its ready line."""
    process = launch_beit_serve(repositories, log=log, extra=extra, stderr=stderr)
    line = process.stdout.readline()
    if "ready" not in line:
        process.kill()
        pytest.fail(f"beit-serve did not get ready (exit {process.wait()}): {line!r}\n{log.read_text()[-4000:]}")
    return process, line


def endpoints(line: str) -> tuple[str, str]:
    match = re.search(r"ready http://(\S+) grpc (\S+)", line)
    assert match, line
    return match.group(1), match.group(2)


def readiness(http: str) -> int:
    """Status of ``GET /v2/health/ready`` (0: nothing answered)."""
    try:
        with urllib.request.urlopen(f"http://{http}/v2/health/ready", timeout=2) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


def leftovers(serve_pid: int) -> list[str]:
    """Processes (server, stubs) and /dev/shm regions that carry that beit-serve's shm prefix."""
    ps = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True, check=True)
    prefix = f"beit_serve_{serve_pid}_"
    return [line for line in ps.stdout.splitlines() if prefix in line] + [
        str(path) for path in Path("/dev/shm").glob(f"{prefix}*")]


def signature(predictions) -> list[tuple[str, int, float]]:
    """What must not change between two answers for one image: labels, ids, scores (to 1e-5)."""
    return [(p.label, p.id, round(p.score, 5)) for p in predictions]


@dataclass
class ClientLoad:
    """``clients`` keep-alive HTTP clients of ``model``, one thread each with its own ``RemoteClassifier``
    (tritonclient's HTTP client is not thread-safe): each makes ``warmup`` requests, then the first ``busy``
    send requests until ``stop()`` while the others stay connected, idle. Answers are compared with ``want``."""

    http: str
    image: bytes
    want: list[tuple[str, int, float]]
    model: str = "cls"
    clients: int = 8
    busy: int = 4
    warmup: int = 8
    correct: int = 0
    errors: list[str] = field(default_factory=list)
    wrong: list[object] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.stopped, self.lock = threading.Event(), threading.Lock()
        self.warm = threading.Barrier(self.clients + 1, timeout=120)
        self.threads = [threading.Thread(target=self._client, args=(index,), daemon=True)
                        for index in range(self.clients)]

    def start(self) -> ClientLoad:
        """Start the clients; returns once each has made its warm-up requests (all answered correctly)."""
        for thread in self.threads:
            thread.start()
        self.warm.wait()
        assert self.correct == self.clients * self.warmup and not self.errors and not self.wrong
        return self

    def stop(self) -> None:
        self.stopped.set()
        for thread in self.threads:
            thread.join(60)

    def _client(self, index: int) -> None:
        with RemoteClassifier(self.http, self.model, max_in_flight=1) as client:
            for _ in range(self.warmup):
                self._ask(client)
            self.warm.wait()
            while index < self.busy and not self.stopped.is_set():
                self._ask(client)
            self.stopped.wait()

    def _ask(self, client: RemoteClassifier) -> None:
        try:
            got = signature(client.classify(self.image, top_k=5))
        except Exception as error:  # any error is an allowed outcome; a wrong answer is not
            with self.lock:
                self.errors.append(f"{type(error).__name__}: {error}")
            self.stopped.wait(0.05)
            return
        with self.lock:
            if got == self.want:
                self.correct += 1
            else:
                self.wrong.append(got)


@pytest.fixture(scope="session")
def serve_layout() -> ServeLayout:
    return setup(serve_home(), timeout_s=SETUP_TIMEOUT_S, log=lambda line: print(line, file=sys.stderr))


@pytest.fixture(scope="session")
def repositories(beit_classifier_artifact, beit_segmentation_artifact, beit_layer_outputs_artifact,
                 beit_backbone_artifact, vit_multilabel_artifact, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("triton")
    written = {}
    served = (("cls", beit_classifier_artifact), ("seg", beit_segmentation_artifact),
              ("layers", beit_layer_outputs_artifact),  # layers: the optional outputs (issue 18)
              ("feat", beit_backbone_artifact), ("multi", vit_multilabel_artifact))  # multi: sigmoid scores
    for name, artifact in served:
        written[name] = root / name
        assert beit_export(["triton", str(artifact), "--output", str(written[name]), "--name", name,
                            "--model-backend", "python", "--max-queue-delay-us", "5000"]) == 0
    return written


@pytest.fixture(scope="session")
def served(serve_layout, repositories, tmp_path_factory) -> Iterator[Served]:
    log = tmp_path_factory.mktemp("triton-log") / "server.log"
    process, line = start_beit_serve(repositories.values(), log=log)
    try:
        http, grpc = endpoints(line)
        yield Served(http=http, grpc=grpc, repositories=repositories, process=process)
    finally:
        stop_beit_serve(process)


@pytest.fixture(scope="session")
def photo_bytes() -> list[bytes]:
    """Real photos of different sizes, as JPEG and PNG bytes."""
    encoded = []
    for index, name in enumerate(PHOTO_NAMES):
        image = np.ascontiguousarray(getattr(skimage.data, name)()[:, :, ::-1])
        encoded.append(cv2.imencode(".jpg" if index % 2 == 0 else ".png", image)[1].tobytes())
    return encoded
