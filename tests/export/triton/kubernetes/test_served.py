"""The Deployment's own command, run from the build context (its beit_runtime copy, its models/) on the real
local Triton with the image's paths mapped to this machine: it gets ready, the startup (one inference per
ensemble), readiness and liveness (no inference) probes as written pass, and SIGTERM stops it cleanly
within its --grace-period."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from beit_export.triton.kubernetes.dockerfile import BEIT_SERVE, MODELS_DIR
from beit_runtime.serving.launcher import free_port

from .conftest import documents

IMAGE_ONLY = ("--tritonserver", "--python-env")  # paths inside the image; here: beit-serve --setup's server and env


def local_arguments(args: list[str], *, folder: Path, http: int, grpc: int, metrics: int) -> list[str]:
    """The container's beit-serve arguments with this machine's folder, loopback and free ports."""
    values = {"--http-port": str(http), "--grpc-port": str(grpc), "--metrics-port": str(metrics),
              "--host": "127.0.0.1"}
    mapped: list[str] = []
    for index, arg in enumerate(args):
        previous = args[index - 1] if index else ""
        if arg in IMAGE_ONLY or previous in IMAGE_ONLY:
            continue
        value = values.get(previous, arg)
        mapped.append(str(folder / "models") if value == MODELS_DIR else value)
    return mapped


def test_the_deployments_command_serves_and_its_probes_pass(segmenter_folder, serve_layout, tmp_path):
    container = documents(segmenter_folder)["kubernetes/deployment.yaml"]["spec"]["template"]["spec"]["containers"][0]
    http, grpc, metrics = free_port(), free_port(), free_port()
    args = local_arguments(container["args"], folder=segmenter_folder, http=http, grpc=grpc, metrics=metrics)
    env = {**os.environ, "PYTHONPATH": str(segmenter_folder)}
    serve = [sys.executable, "-m", "beit_runtime.serving.server"]
    assert container["command"][1:] == serve[1:]
    process = subprocess.Popen([*serve, *args, "--log-file", str(tmp_path / "server.log")], cwd=segmenter_folder,
                               env=env, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert "ready" in line, (tmp_path / "server.log").read_text()[-3000:]
        ready = container["readinessProbe"]["httpGet"]["path"]
        with urllib.request.urlopen(f"http://127.0.0.1:{http}{ready}", timeout=2) as reply:
            assert reply.status == 200
        says = {"startupProbe": r"check ok: [\w.-]+ \(\d+ ms\)$", "livenessProbe": r"check ok: live; ready: "}
        for name in ("startupProbe", "livenessProbe"):
            probe = container[name]
            command = [part.replace(":8000", f":{http}") for part in probe["exec"]["command"]]
            assert command[0] == BEIT_SERVE
            done = subprocess.run([*serve, *command[1:]], cwd=segmenter_folder, env=env, capture_output=True,
                                  text=True, timeout=probe["timeoutSeconds"], check=False)
            assert done.returncode == 0, done.stdout + done.stderr
            assert re.match(f"beit-serve: {says[name]}", done.stdout.strip()), done.stdout
    finally:
        start = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
    grace = float(args[args.index("--grace-period") + 1])
    assert code == 0 and time.monotonic() - start < grace
