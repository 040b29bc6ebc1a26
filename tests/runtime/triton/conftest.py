"""One real Triton server for the serving tests, started by ``beit-serve`` on free loopback ports.

The server and its python environment come from ``beit-serve --setup`` (run here when missing,
bounded in time; ``.ci/run`` runs it first). It serves two repositories written by ``beit-export
triton --model-backend python`` from the tiny session artifacts: ``cls`` (classifier) and ``seg``
(segmenter).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from beit_export.cli import main as beit_export
from beit_runtime.triton.install import ServeLayout, serve_home, setup

SETUP_TIMEOUT_S = 600
READY_TIMEOUT_S = 120
PHOTO_NAMES = ("astronaut", "coffee", "chelsea", "rocket")


@dataclass(frozen=True)
class Served:
    http: str
    grpc: str
    repositories: dict[str, Path]
    process: subprocess.Popen


def start_beit_serve(repositories, *, log: Path, extra=()) -> tuple[subprocess.Popen, str]:
    """``beit-serve REPO... --http-port 0 --grpc-port 0``; returns the process and its ready line."""
    process = subprocess.Popen(
        [sys.executable, "-m", "beit_runtime.triton.server", *map(str, repositories), "--http-port", "0",
         "--grpc-port", "0", "--log-file", str(log), "--ready-timeout", str(READY_TIMEOUT_S), *extra],
        stdout=subprocess.PIPE, text=True,
    )
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
def repositories(beit_classifier_artifact, beit_segmentation_artifact, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("triton")
    written = {}
    for name, artifact in (("cls", beit_classifier_artifact), ("seg", beit_segmentation_artifact)):
        written[name] = root / name
        assert beit_export(["triton", str(artifact), "--output", str(written[name]), "--name", name,
                            "--model-backend", "python", "--max-queue-delay-us", "5000"]) == 0
    return written


@pytest.fixture(scope="session")
def served(serve_layout, repositories, tmp_path_factory):
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
