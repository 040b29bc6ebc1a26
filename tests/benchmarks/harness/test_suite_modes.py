"""benchmarks.harness.suite: a given artifact's int8 graph is timed under the backend of the quantization its export
used (a static-QDQ graph was timed as "ort-int8" (dynamic) and "ort-int8-qdq" was skipped)."""

from __future__ import annotations

import json

from benchmarks.harness.suite import _participants, _prepare
from benchmarks.latency import build_parser, settings_from_args
from tests.conftest import save_model_folder
from tests.tiny_models import tiny_model


def test_a_static_int8_artifact_is_timed_as_the_static_backend_and_the_dynamic_one_says_why_not(tmp_path):
    from beit_export.cli import main as beit_export

    folder = save_model_folder(tiny_model("beit", "image-classification"), tmp_path / "checkpoint")
    artifact = tmp_path / "static"  # a local checkpoint folder: the benchmark loads its PyTorch reference from it
    assert beit_export(["--model", str(folder), "--output", str(artifact), "--int8", "--quiet"]) == 0
    argv = ["--artifact-dir", str(artifact), "--backends", "ort-int8,ort-int8-qdq", "--batch-sizes", "1",
            "--output-dir", str(tmp_path / "out")]  # not the default benchmarks/out of the working directory
    settings = settings_from_args(build_parser().parse_args(argv))
    info, by_mode = _prepare(settings.models[0], settings)
    assert set(by_mode) == {"static"}
    jobs = {participant.name: participant for participant in _participants(info, by_mode, settings, [1], [])}
    failures = {name: json.dumps(jobs[name].payload) for name in ("ort-int8", "ort-int8-qdq")}
    assert "needs a dynamic int8 graph" in failures["ort-int8"]
    assert "needs a" not in failures["ort-int8-qdq"]
