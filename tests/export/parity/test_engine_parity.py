"""Parity on OpenVINO: recorded in the manifest beside ONNX Runtime's, failures stop the export."""

from __future__ import annotations

import pytest

from beit_export.errors import ParityError
from beit_export.options import ExportOptions
from beit_export.parity import ParityCase, build_cases, engine_parity
from beit_export.pipeline import export_artifact
from beit_runtime.manifest import load_manifest
from tests.conftest import tiny_checkpoint

ov_engine = pytest.importorskip("beit_runtime.engines.openvino_engine", reason="needs openvino (the openvino extra)")


def test_manifest_records_openvino_parity(tmp_path):
    checkpoint = tiny_checkpoint("beit", "image-classification")
    folder = export_artifact(checkpoint, output=tmp_path / "a",
                             options=ExportOptions(fp16=True, int8=True, photos=False))
    parity = load_manifest(folder).to_json()["parity"]
    fp32 = parity["fp32"]["engines"]["openvino"]
    assert fp32["measured"] and fp32["passed"] and fp32["precision"] == "fp32" and "openvino" in fp32["backend"]
    assert fp32["outputs"]["logits"]["max_abs"] <= 1e-4
    fp16 = parity["fp16"]["engines"]["openvino"]  # the fp16 graph runs on OpenVINO too: measured at export
    assert fp16["measured"] and fp16["passed"] and fp16["precision"] == "fp16" and "openvino" in fp16["backend"]
    assert fp16["tolerances"]["logits"]["rel_l2"] == 1e-2 and fp16["outputs"]["logits"]["rel_l2"] <= 1e-2
    int8 = parity["int8"]["engines"]["openvino"]
    assert int8["measured"] and int8["passed"] and int8["precision"] == "int8"
    bf16 = parity["fp32"]["engines"]["openvino-bf16"]
    if ov_engine.bf16_supported():
        assert bf16["measured"] and bf16["passed"] and bf16["precision"] == "bf16"
    else:
        assert bf16 == {"measured": False, "reason": bf16["reason"]} and "bf16 units" in bf16["reason"]


def test_dynamic_int8_is_not_claimed_for_openvino(beit_classifier_artifact, tmp_path):
    checkpoint = tiny_checkpoint("beit", "image-classification")
    cases = build_cases(checkpoint, photos=False)
    records = engine_parity(beit_classifier_artifact / "model.onnx", cases, task="image-classification",
                            variant="int8", dynamic_int8=True)
    assert records["openvino"]["measured"] is False and "static" in records["openvino"]["reason"]


def test_an_openvino_mismatch_fails_loudly(beit_classifier_artifact):
    checkpoint = tiny_checkpoint("beit", "image-classification")
    case = build_cases(checkpoint, photos=False)[0]
    wrong = ParityCase(name=case.name, feeds=case.feeds, reference={"logits": case.reference["logits"] + 0.5})
    with pytest.raises(ParityError, match="openvino"):
        engine_parity(beit_classifier_artifact / "model.onnx", [wrong], task="image-classification", variant="fp32")
