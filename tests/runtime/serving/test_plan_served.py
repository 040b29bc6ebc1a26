"""``beit-export triton --precision auto --plan PATH`` served by ``beit-serve``'s real Triton: the plan made in
this environment applies in the server's own python environment (numpy<2, no OpenVINO), skipping the plan's
OpenVINO choice for its fastest ONNX Runtime variant and saying so, and the served answers are that variant's."""

from __future__ import annotations

from pathlib import Path

import pytest

from beit_export.cli import main as beit_export
from beit_runtime import Classifier
from beit_runtime.planning.machine import library_versions, machine_description, machine_key
from beit_runtime.planning.plan import Plan, PlanRow, write_plan
from beit_runtime.remote import RemoteClassifier
from tests.conftest import _export
from tests.runtime.serving.triton_server import endpoints, signature, start_beit_serve, stop_beit_serve


def _row(backend: str, precision: str, median: float) -> PlanRow:
    return PlanRow(backend, precision, {"median": median, "q1": median - 0.2, "q3": median + 0.2, "rounds": 5},
                   {"top1": 0.9}, 0.0, True)


@pytest.fixture(scope="module")
def int8_artifact(tmp_path_factory) -> Path:
    return _export(tmp_path_factory, "beit-int8", "beit", "image-classification",
                   export_options={"int8": True, "int8_mode": "dynamic"})


def _plan_made_here(artifact: Path, path: Path) -> Path:
    """A plan as `beit-run tune` writes it in this environment: it chose openvino-int8 (the server has no
    OpenVINO), onnxruntime-int8 next."""
    from beit_runtime import load_manifest

    machine = {**machine_description(), "libraries": library_versions()}
    plan = Plan(machine=machine, machine_key=machine_key(machine), artifact=str(artifact),
                artifact_digest=load_manifest(artifact).files_digest, batch_size=8, max_drop=1.0,
                accuracy_source="parity agreement", chosen_backend="openvino", chosen_precision="int8",
                reason="openvino-int8: 3.00x fp32", rows=(_row("openvino", "int8", 3.0),
                                                          _row("onnxruntime", "int8", 1.5)))
    return write_plan(plan, path)


def test_a_plan_made_here_is_applied_in_the_server_s_environment(serve_layout, int8_artifact, photo_bytes,
                                                                 tmp_path):
    plan = _plan_made_here(int8_artifact, tmp_path / "plan.json")
    repository = tmp_path / "repo"
    assert beit_export(["triton", str(int8_artifact), "--output", str(repository), "--name", "auto",
                        "--model-backend", "python", "--precision", "auto", "--plan", str(plan)]) == 0
    log = tmp_path / "server.log"
    with open(tmp_path / "stderr.txt", "w+", encoding="utf-8") as stderr:
        process, line = start_beit_serve([repository], log=log, stderr=stderr)
        try:
            http, _ = endpoints(line)
            with RemoteClassifier(http, "auto") as remote, Classifier(int8_artifact, precision="int8") as local:
                for photo in photo_bytes:
                    assert signature(remote.classify(photo, top_k=3)) == signature(local.classify(photo, top_k=3))
        finally:
            stop_beit_serve(process)
        stderr.seek(0)
        said = stderr.read() + log.read_text()
    running = [text for text in said.splitlines() if "auto_engine: running" in text]
    assert running, said[-3000:]
    assert "precision='int8', backend='onnxruntime'" in running[0], running[0]
    assert "openvino-int8 skipped: openvino is not installed in this environment" in running[0], running[0]
