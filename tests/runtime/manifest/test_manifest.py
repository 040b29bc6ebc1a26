"""The typed manifest: parsed once into frozen records, written only by the manifest module, schema 1 still read."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest

from beit_runtime import Classifier
from beit_runtime.errors import ArtifactIntegrityError, ManifestError
from beit_runtime.manifest import (
    SCHEMA_VERSION,
    EngineParity,
    Manifest,
    ManifestRecord,
    ParityRecord,
    copy_manifest,
    engine_parity_name,
    load_manifest,
    update_manifest,
)


@pytest.fixture()
def artifact(beit_classifier_artifact, tmp_path) -> Path:
    return Path(shutil.copytree(beit_classifier_artifact, tmp_path / "artifact"))


def _json(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def _rewrite_json(folder: Path, data: dict) -> None:
    """What an older exporter (or a hand edit) left behind: written here without the manifest module."""
    (folder / "manifest.json").write_text(json.dumps(data))


def test_records_are_typed_frozen_and_round_trip(artifact):
    manifest = load_manifest(artifact)
    assert manifest.schema_version == SCHEMA_VERSION == 2 and "plans" not in _json(artifact)
    assert manifest.to_json() == _json(artifact)
    graph = manifest.graphs["fp32"]
    assert graph.file == "model.onnx" and graph.input_names == ("pixel_values",) and graph.output_names == ("logits",)
    assert manifest.input.size == (32, 32) and manifest.preprocessing.resample == "bilinear"
    assert manifest.labels[3] == "class_3" and manifest.source is not None and manifest.source.model_type == "beit"
    assert manifest.files["model.onnx"].bytes == (artifact / "model.onnx").stat().st_size
    with pytest.raises(dataclasses.FrozenInstanceError):
        manifest.task = "backbone"  # type: ignore[misc]
    with pytest.raises(TypeError):
        manifest.graphs["fp16"] = graph  # type: ignore[index]
    with pytest.raises(TypeError):
        manifest.parity["fp32"].outputs["logits"]["max_abs"] = 0.0  # type: ignore[index]


def test_schema_1_loads_into_the_same_records_and_is_rewritten_as_2(artifact):
    current = load_manifest(artifact)
    old = _json(artifact)
    old["schema_version"] = 1
    _rewrite_json(artifact, old)
    legacy = load_manifest(artifact)
    assert legacy.schema_version == 1
    assert dataclasses.replace(legacy, schema_version=SCHEMA_VERSION) == current
    rewritten = update_manifest(artifact, lambda manifest: manifest)
    assert rewritten.schema_version == 2 and _json(artifact)["schema_version"] == 2


@pytest.mark.parametrize("plans", [{}, {"xeon-8480-2c": {"machine": "xeon-8480-2c", "backend": "onnxruntime",
                                                          "precision": "int8", "batch_size": 8}}])
def test_a_plans_section_left_by_an_earlier_release_is_read_past_and_not_written_back(artifact, plans):
    """Schema 2 manifests of earlier releases carry "plans" (always {} from the exporter); run plans live in the
    plans cache (beit_runtime.planning), never in the artifact."""
    current = load_manifest(artifact)
    old = _json(artifact)
    old["plans"] = plans
    _rewrite_json(artifact, old)
    assert load_manifest(artifact) == current
    update_manifest(artifact, lambda manifest: manifest)
    assert "plans" not in _json(artifact) and load_manifest(artifact) == current


@pytest.mark.parametrize("change, message", [
    (lambda data: data.update(schema_version=3), r"schema version 3.*reads versions 1, 2.*beit-export --model"),
    (lambda data: data.update(format="something-else"), r"not a beit-deploy manifest.*beit-export --model"),
    (lambda data: data["graphs"]["fp32"].update(opset="18"), r"graphs 'fp32': 'opset' must be an integer"),
    (lambda data: data["input"].pop("height"), r"input lacks 'height'.*beit-export --model"),
    (lambda data: data["parity"]["fp32"].update(engines={"openvino": {"passed": True}}), r"lacks 'measured'"),
])
def test_malformed_or_unknown_manifests_name_the_field_and_the_reexport(artifact, change, message):
    data = _json(artifact)
    change(data)
    _rewrite_json(artifact, data)
    with pytest.raises(ManifestError, match=message):
        load_manifest(artifact, verify_files=False)


def test_parity_lookup_is_typed_per_variant_and_engine(artifact):
    manifest = load_manifest(artifact)
    assert engine_parity_name("openvino") == engine_parity_name("openvino", inference_precision="fp32") == "openvino"
    assert engine_parity_name("openvino", inference_precision="bf16") == "openvino-bf16"
    report = manifest.parity_for("fp32")
    assert isinstance(report, ParityRecord) and report.passed and report.precision == "fp32"
    assert manifest.parity_for("fp16") is None and manifest.parity_for("fp32", engine="no-such-engine") is None
    skipped = EngineParity(measured=False, reason="not installed")
    edited = dataclasses.replace(report, engines=MappingProxyType({"openvino-bf16": skipped}))
    record = dataclasses.replace(manifest, parity=MappingProxyType({"fp32": edited}))
    assert record.parity_for("fp32", engine="openvino-bf16") is None  # not measured: no report to judge
    assert record.engine_parity("fp32", "openvino-bf16") == skipped and not skipped.failed


def _with_failed_engine(folder: Path, engine: str) -> None:
    def change(manifest: Manifest) -> ManifestRecord:
        report = manifest.parity["fp32"]
        failed = dataclasses.replace(report, passed=False, backend=engine, failures=("case 0: logits: too far",))
        engines = MappingProxyType({**report.engines, engine: EngineParity(measured=True, report=failed)})
        parity = MappingProxyType({**manifest.parity, "fp32": dataclasses.replace(report, engines=engines)})
        return dataclasses.replace(manifest, parity=parity)

    update_manifest(folder, change)


@pytest.mark.parametrize("engine, options", [("openvino", {"backend": "openvino"}),
                                             ("openvino-bf16", {"precision": "bf16", "backend": "openvino"})])
def test_an_engine_whose_recorded_parity_failed_is_refused(artifact, engine, options):
    _with_failed_engine(artifact, engine)
    assert load_manifest(artifact).engine_parity("fp32", engine).failed
    with pytest.raises(ManifestError, match=f"on {engine} outside the"):
        Classifier(artifact, **options)
    with Classifier(artifact, backend="onnxruntime") as classifier:  # the ONNX Runtime record passed
        assert classifier.backend == "onnxruntime"


def test_an_update_goes_through_the_writer_and_rehashes_the_files(artifact):
    (artifact / "notes.txt").write_text("added after export")
    written = update_manifest(artifact, lambda manifest: dataclasses.replace(manifest, created="2025-01-01T00:00:00"))
    assert load_manifest(artifact) == written and written.created == "2025-01-01T00:00:00"
    assert "notes.txt" in written.files
    assert sorted(path.name for path in artifact.iterdir() if path.name.startswith(".")) == []  # no temp file left
    (artifact / "notes.txt").write_text("changed")
    with pytest.raises(ArtifactIntegrityError, match=r"notes\.txt"):
        load_manifest(artifact)


def test_copy_manifest_keeps_the_source_records(artifact, tmp_path):
    manifest = load_manifest(artifact)
    target = tmp_path / "copy"
    target.mkdir()
    copied = copy_manifest(manifest, target)
    assert copied.folder == target and copied.to_json() == manifest.to_json() == _json(target)
    with pytest.raises(ArtifactIntegrityError, match=r"model\.onnx"):  # the copy holds no graph yet
        load_manifest(target, verify_files=True)


def test_an_artifact_path_that_is_missing_or_a_file_says_which(tmp_path):
    with pytest.raises(ManifestError, match="does not exist"):
        load_manifest(tmp_path / "missing")
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(ManifestError, match="is a file: pass the artifact folder"):
        load_manifest(tmp_path / "manifest.json")


def _with_int8_copy(folder: Path) -> None:
    """``folder`` with an "int8" graph record (a copy of the fp32 graph: only its file matters here), hashed."""
    shutil.copyfile(folder / "model.onnx", folder / "model.int8.onnx")
    update_manifest(folder, lambda manifest: dataclasses.replace(manifest, graphs={
        **manifest.graphs, "int8": dataclasses.replace(manifest.graphs["fp32"], file="model.int8.onnx",
                                                       precision="int8")}))


def test_a_deleted_variant_stops_only_its_own_runs(artifact):
    """Every file was hashed before the precision was chosen: deleting model.int8.onnx made fp32 unloadable."""
    _with_int8_copy(artifact)
    (artifact / "model.int8.onnx").unlink()
    with Classifier(artifact) as classifier:
        assert len(classifier(np.full((32, 32, 3), 90, np.uint8), top_k=1)) == 1
    missing = r"graph 'int8' file .*model\.int8\.onnx is missing \(deleted after export\?\); this artifact's " \
              r"graphs: fp32 - run one of those \(--precision fp32 / precision='fp32'\), or re-export"
    with pytest.raises(ArtifactIntegrityError, match=missing):
        Classifier(artifact, precision="int8")
    (artifact / "notes.txt").write_text("recorded")  # a recorded file no graph names is still checked
    update_manifest(artifact, lambda manifest: manifest)
    (artifact / "notes.txt").write_text("changed")
    with pytest.raises(ArtifactIntegrityError, match=r"notes\.txt does not match the hash"):
        Classifier(artifact)


def test_a_changed_file_of_the_graph_that_runs_is_still_refused(artifact):
    _with_int8_copy(artifact)
    with open(artifact / "model.int8.onnx", "ab") as handle:
        handle.write(b"\0")
    Classifier(artifact).close()  # fp32 reads none of the int8 graph
    with pytest.raises(ArtifactIntegrityError, match=r"model\.int8\.onnx does not match the hash"):
        Classifier(artifact, precision="int8")


def test_a_segmenter_without_its_postprocess_graph_runs_unfused(beit_segmentation_artifact, tmp_path):
    from beit_runtime import Segmenter

    folder = Path(shutil.copytree(beit_segmentation_artifact, tmp_path / "segmentation"))
    (folder / "postprocess.onnx").unlink()
    with Segmenter(folder, fused_postprocess=False) as segmenter:
        assert segmenter(np.zeros((20, 30, 3), np.uint8)).labels.shape == (20, 30)
    with pytest.raises(ArtifactIntegrityError, match=r"graph 'postprocess' file .*postprocess\.onnx is missing"):
        Segmenter(folder)


def test_a_folder_that_is_not_a_path_is_an_input_error_naming_the_caller():
    from beit_runtime.errors import InputError

    with pytest.raises(InputError, match=r"^load_manifest takes the artifact folder .* got 5 \(int\)"):
        load_manifest(5)  # type: ignore[arg-type]
