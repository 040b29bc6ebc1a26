"""benchmarks.harness.accuracy: the accuracy beside the timings is the timed artifact's own, for the rows that ran.

With ``--artifact-dir`` the held-out digits score that artifact's graphs when it classifies the digits 0-9, and
every row says why it has no figure otherwise; a row the timing skipped gets no figure either. The trained demo
classifier is measured only for a run of presets (random weights), never borrowed for a given artifact.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from benchmarks.harness import accuracy
from benchmarks.harness.accuracy import classifier_accuracy

SKIP_REASON = "the artifact has no 'int8' graph (export with --int8 or drop this backend)"


def _models(ran: tuple[str, ...], skipped: tuple[str, ...] = ()) -> list[dict]:
    backends = {name: {"backend": name, "batches": {"1": {"engine": {"p50_ms": 1.0}}}} for name in ran}
    backends |= {name: {"backend": name, "skipped": SKIP_REASON} for name in skipped}
    return [{"name": "m", "backends": backends}]


@pytest.fixture
def no_demo_export(monkeypatch):
    """Fail the test if the demo classifier is exported: a given artifact is scored on its own graphs or not at all."""
    def refuse(cache_dir):
        raise AssertionError("the demo classifier was exported for a run of a given artifact")

    monkeypatch.setattr(accuracy, "_export", refuse)


@pytest.fixture(scope="module")
def digits_artifact(tmp_path_factory) -> Path:
    """The --quick tiny BEiT with the digits 0-9 as its labels: fp32 + static QDQ int8 (random weights)."""
    from beit_export.options import ExportOptions
    from beit_export.pipeline import export_artifact
    from benchmarks.workload.tiny import tiny_checkpoint

    checkpoint = dataclasses.replace(tiny_checkpoint("tiny-beit"), labels={str(i): str(i) for i in range(10)})
    output = tmp_path_factory.mktemp("artifacts") / "tiny-digits"
    return export_artifact(checkpoint, output=output, options=ExportOptions(int8=True, int8_mode="static"))


def test_segmentation_artifact_is_not_scored_and_borrows_nothing(beit_segmentation_artifact, tmp_path,
                                                                  no_demo_export):
    result = classifier_accuracy(("ort-fp32", "ort-int8", "openvino-bf16"), cache_dir=tmp_path, threads=1,
                                 quick=True, artifact_dir=beit_segmentation_artifact,
                                 models=_models(("ort-fp32", "openvino-bf16"), skipped=("ort-int8",)))
    assert result["model"] == str(beit_segmentation_artifact) and result["source"] == "artifact"
    assert "semantic-segmentation" in result["not_scored"]
    assert set(result["rows"]) == {"ort-fp32", "ort-int8", "openvino-bf16"}
    assert not any("top1" in row for row in result["rows"].values())
    assert "semantic-segmentation" in result["rows"]["ort-fp32"]["skipped"]
    assert result["rows"]["ort-int8"]["skipped"] == f"not timed in this run: {SKIP_REASON}"


def test_classifier_whose_labels_are_not_the_digits_is_not_scored(beit_classifier_artifact, tmp_path,
                                                                   no_demo_export):
    result = classifier_accuracy(("ort-fp32",), cache_dir=tmp_path, threads=1, quick=True,
                                 artifact_dir=beit_classifier_artifact, models=_models(("ort-fp32",)))
    assert "not the digits 0-9" in result["not_scored"]
    assert "top1" not in result["rows"]["ort-fp32"] and "not the digits" in result["rows"]["ort-fp32"]["skipped"]


def test_digits_artifact_is_scored_on_its_own_graphs_for_the_rows_that_ran(digits_artifact, tmp_path,
                                                                           no_demo_export):
    from beit_export.demo.digits import held_out_split, top1_accuracy
    from beit_runtime import Classifier

    result = classifier_accuracy(("ort-fp32", "ort-int8", "ort-int8-qdq"), cache_dir=tmp_path, threads=1,
                                 quick=True, artifact_dir=digits_artifact,
                                 models=_models(("ort-fp32", "ort-int8"), skipped=("ort-int8-qdq",)))
    assert result["model"] == str(digits_artifact) and result["held_out"] == 64 and "not_scored" not in result
    digits = held_out_split()
    for row, precision in (("ort-fp32", "fp32"), ("ort-int8", "int8")):
        with Classifier(digits_artifact, precision=precision, backend="onnxruntime", intra_op_threads=1) as model:
            predicted = np.argmax(model.logits(digits.image_list()[:64]), axis=-1)
        assert result["rows"][row]["top1"] == round(top1_accuracy(predicted, digits.labels[:64]), 4), row
    assert result["rows"]["ort-int8-qdq"] == {"skipped": f"not timed in this run: {SKIP_REASON}"}


def test_preset_run_measures_the_demo_classifier_only_for_rows_that_ran(tmp_path, monkeypatch):
    sent = {}

    def fake_job(kind, payload, *, threads):
        sent.update(payload)
        return {"held_out": 64, "rows": {name: {"top1": 1.0, "correct": 64} for name in payload["rows"]}}

    monkeypatch.setattr(accuracy, "_export", lambda cache_dir: {"static": "S", "dynamic": "D"})
    monkeypatch.setattr(accuracy, "run_job", fake_job)
    result = classifier_accuracy(("pytorch-eager-fp32", "ort-fp32", "ort-int8", "ort-int8-qdq"), cache_dir=tmp_path,
                                 threads=1, models=_models(("ort-fp32", "ort-int8"), skipped=("ort-int8-qdq",)))
    assert result["model"] == accuracy.MODEL_ID and result["source"] == "demo"
    assert {name: row["folder"] for name, row in sent["rows"].items()} == {"ort-fp32": "S", "ort-int8": "D"}
    assert "top1" not in result["rows"]["ort-int8-qdq"] and "pytorch-eager-fp32" not in result["rows"]
