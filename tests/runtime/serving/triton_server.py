"""One real Triton server for the serving and remote-client tests, started by ``beit-serve`` on free loopback ports.

The server and its python environment come from ``beit-serve --setup`` (run here when missing,
bounded in time; ``.ci/run`` runs it first). It serves two repositories written by ``beit-export
triton --model-backend python`` from the tiny session artifacts: ``cls`` (classifier) and ``seg``
(segmenter). ``tests/runtime/conftest.py`` registers the fixtures for tests/runtime/serving and
tests/runtime/remote, so one session starts one server for both.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from beit_export.cli import main as beit_export
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


def launch_beit_serve(repositories: Iterable[Path], *, log: Path, extra: Sequence[str] = ()) -> subprocess.Popen:
    """``beit-serve REPO...`` with its log in ``log``, not waited for (ports 0 unless ``extra`` names them)."""
    ports = [] if "--http-port" in extra else ["--http-port", "0", "--grpc-port", "0"]
    return subprocess.Popen(serve_command(*map(str, repositories), *ports, "--log-file", str(log), "--ready-timeout",
                                          str(READY_TIMEOUT_S), *extra), stdout=subprocess.PIPE, text=True)


def start_beit_serve(repositories: Iterable[Path], *, log: Path,
                     extra: Sequence[str] = ()) -> tuple[subprocess.Popen, str]:
    """``beit-serve REPO... --http-port 0 --grpc-port 0``; returns the process and its ready line."""
    process = launch_beit_serve(repositories, log=log, extra=extra)
    line = process.stdout.readline()
    if "ready" not in line:
        process.kill()
        pytest.fail(f"beit-serve did not get ready (exit {process.wait()}): {line!r}\n{log.read_text()[-4000:]}")
    return process, line


def endpoints(line: str) -> tuple[str, str]:
    match = re.search(r"ready http://(\S+) grpc (\S+)", line)
    assert match, line
    return match.group(1), match.group(2)


@pytest.fixture(scope="session")
def serve_layout() -> ServeLayout:
    return setup(serve_home(), timeout_s=SETUP_TIMEOUT_S, log=lambda line: print(line, file=sys.stderr))


@pytest.fixture(scope="session")
def repositories(beit_classifier_artifact, beit_segmentation_artifact, beit_layer_outputs_artifact,
                 tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("triton")
    written = {}
    served = (("cls", beit_classifier_artifact), ("seg", beit_segmentation_artifact),
              ("layers", beit_layer_outputs_artifact))  # layers: the optional outputs (issue 18)
    for name, artifact in served:
        written[name] = root / name
        assert beit_export(["triton", str(artifact), "--output", str(written[name]), "--name", name,
                            "--model-backend", "python", "--max-queue-delay-us", "5000"]) == 0
    return written


@pytest.fixture(scope="session")
def served(serve_layout, repositories, tmp_path_factory) -> Iterator[Served]:
    log = tmp_path_factory.mktemp("triton-log") / "server.log"
    process, line = start_beit_serve(repositories.values(), log=log)
    http, grpc = endpoints(line)
    yield Served(http=http, grpc=grpc, repositories=repositories, process=process)
    process.send_signal(signal.SIGTERM)
    process.wait(60)


@pytest.fixture(scope="session")
def photo_bytes() -> list[bytes]:
    """Real photos of different sizes, as JPEG and PNG bytes."""
    encoded = []
    for index, name in enumerate(PHOTO_NAMES):
        image = np.ascontiguousarray(getattr(skimage.data, name)()[:, :, ::-1])
        encoded.append(cv2.imencode(".jpg" if index % 2 == 0 else ".png", image)[1].tobytes())
    return encoded
