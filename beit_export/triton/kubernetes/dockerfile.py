"""The image: NGC's tritonserver, the repository, beit_runtime for ``beit-serve``, the python models' env.

Why Python 3.11 beside the image's own 3.10 (Ubuntu 22.04's): the python models need the repository's
``python_backend_requirements``, pinned to the versions the parity checks ran with, and onnxruntime
1.32 and Pillow 13 publish no cp310 wheels (checked with ``pip download --only-binary=:all:
--python-version 3.10``: the newest are onnxruntime 1.23.2 and Pillow 12.3.0; Pillow 13 changed how
downscales are computed, so an older one would change the served answers). Triton's python backend runs
its models in the interpreter its stub was built for, so the image gets Ubuntu's ``python3.11`` (22.04's
jammy-updates universe has python3.11, python3.11-venv and libpython3.11 at 3.11.0~rc1-1~22.04.1: checked in
the archive's package index on 2026-12-05; pip takes it as 3.11.0), a venv
with the requirements, and the python-3.11 stub of the same Triton release (2.51.0) taken from the
``nvidia-pytriton`` wheel that ``beit-serve --setup`` also uses (``install_stub.py``, below).

``beit-serve`` runs from the venv's python with beit_runtime on ``PYTHONPATH`` (launching and
supervising need only the standard library; the python stubs get ``PYTHONPATH`` removed, each model
imports its own vendored copy), as the exec-form ENTRYPOINT, so SIGTERM reaches it directly: it is the
container's PID 1 and installs its own handlers. It runs as the image's ``triton-server`` user (uid 1000).
"""

from __future__ import annotations

import json
from typing import Any

from beit_runtime.serving.install import ENV_CHECK, PYTRITON, STUB

from .options import GRPC_PORT, HTTP_PORT, METRICS_PORT, KubernetesOptions

APP_DIR = "/opt/beit"
MODELS_DIR = f"{APP_DIR}/models"
ENV_DIR = f"{APP_DIR}/env"
LIB_DIR = f"{APP_DIR}/lib"
PYTHON = f"{ENV_DIR}/bin/python"
TRITONSERVER = "/opt/tritonserver/bin/tritonserver"
BACKEND_STUB = f"/opt/tritonserver/backends/python/{STUB}"
BEIT_SERVE = "/usr/local/bin/beit-serve"
STUB_PYTHON = "3.11"
USER_ID = 1000  # the NGC image's triton-server user (its build asserts uid and gid 1000)

# what the build context holds besides the repository: {path in DIR: text}
BEIT_SERVE_SCRIPT = f"""#!/bin/sh
# beit-serve inside the image (for the probes and for humans): the venv's python, beit_runtime on PYTHONPATH
exec {PYTHON} -m beit_runtime.serving.server "$@"
"""

INSTALL_STUB = f'''"""Put the python {STUB_PYTHON} stub of Triton 2.51.0 (from the {PYTRITON} wheel) in place of the
image's own (built for its python 3.10)."""

import glob
import sys
import zipfile

wheel = glob.glob(sys.argv[1] + "/nvidia_pytriton-*.whl")[0]
with zipfile.ZipFile(wheel) as archive:
    data = archive.read("pytriton/tritonserver/python_backend_stubs/{STUB_PYTHON}/{STUB}")
with open("{BACKEND_STUB}", "wb") as stub:
    stub.write(data)
'''


def serve_arguments(options: KubernetesOptions) -> list[str]:
    """beit-serve's arguments in the container (the Dockerfile's CMD, the manifests' args)."""
    return [MODELS_DIR, "--host", "0.0.0.0", "--http-port", str(HTTP_PORT), "--grpc-port", str(GRPC_PORT),
            "--metrics-port", str(METRICS_PORT), "--grace-period", str(options.grace_period_s),
            "--ready-timeout", str(options.ready_timeout_s), "--tritonserver", TRITONSERVER,
            "--python-env", ENV_DIR]


def entrypoint() -> list[str]:
    return [PYTHON, "-m", "beit_runtime.serving.server"]


def dockerfile(options: KubernetesOptions, *, name: str, version: str) -> str:
    """The Dockerfile text (build context: the --kubernetes folder)."""
    check = ENV_CHECK.replace('"', '\\"')
    return f"""# Written by beit-export triton --kubernetes (beit-deploy {version}) for the model {name}.
# Build from this folder: docker build -t {options.image} .
FROM {options.base_image}

USER 0
# python {STUB_PYTHON} for the python models (the image's python 3.10 has no wheels of the pinned onnxruntime/Pillow)
# hadolint ignore=DL3008
RUN apt-get update \\
 && apt-get install -y --no-install-recommends python{STUB_PYTHON} python{STUB_PYTHON}-venv libpython{STUB_PYTHON} \\
 && rm -rf /var/lib/apt/lists/*

COPY requirements.txt {APP_DIR}/requirements.txt
RUN python{STUB_PYTHON} -m venv {ENV_DIR} \\
 && {PYTHON} -m pip install --no-cache-dir -r {APP_DIR}/requirements.txt \\
 && {PYTHON} -c "{check}"

# the python backend's stub for python {STUB_PYTHON}, of the same Triton release (2.51.0) as the server
COPY docker/install_stub.py /tmp/install_stub.py
RUN {PYTHON} -m pip download --no-cache-dir --no-deps --only-binary=:all: -d /tmp/pytriton {PYTRITON} \\
 && {PYTHON} /tmp/install_stub.py /tmp/pytriton \\
 && chmod 0755 {BACKEND_STUB} \\
 && rm -rf /tmp/pytriton /tmp/install_stub.py

COPY beit_runtime {LIB_DIR}/beit_runtime
COPY bin/beit-serve {BEIT_SERVE}
COPY models {MODELS_DIR}
ENV PYTHONPATH={LIB_DIR} PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1

USER {USER_ID}:{USER_ID}
EXPOSE {HTTP_PORT} {GRPC_PORT} {METRICS_PORT}
ENTRYPOINT {json.dumps(entrypoint())}
CMD {json.dumps(serve_arguments(options))}
"""


def requirements(record: dict[str, Any]) -> str:
    """requirements.txt for the python models' venv: the repository's own pins."""
    lines = [f"# the python models' requirements, from {record['name']}'s repository.json "
             "(python_backend_requirements)", *record["python_backend_requirements"]]
    return "\n".join(lines) + "\n"


DOCKERIGNORE = "kubernetes/\nkserve/\nREADME.md\n"
