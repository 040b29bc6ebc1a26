"""run_folder: the results of a folder run equal the in-process task classes', image by image; failures go
to errors.jsonl and the run goes on; a rerun resumes."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from beit_runtime import Classifier, FeatureExtractor, MaskedImageModeler, Segmenter
from beit_runtime.bulk import BulkOptions, run_folder
from beit_runtime.errors import InputError
from beit_runtime.images import load_image
from beit_runtime.legend import segmentation_picture
from beit_runtime.manifest import load_manifest
from beit_runtime.planning.machine import machine_description, machine_key
from beit_runtime.planning.plan import Plan, write_plan

from .conftest import BROKEN, GOOD


def _lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _options(output, **overrides):
    return BulkOptions(output=output, progress="off", **overrides)


def test_classification_equals_the_classifier_and_failures_are_listed(beit_classifier_artifact, mixed_folder, tmp_path):
    summary = run_folder(beit_classifier_artifact, [mixed_folder], options=_options(tmp_path, top_k=3), batch_size=4)
    assert (summary.images, summary.succeeded, summary.failed, summary.skipped) == (11, 9, 2, 0)
    assert not summary.all_succeeded
    records = _lines(tmp_path / "results.jsonl")
    assert [record["image"] for record in records] == list(GOOD)  # sorted relative names, the text file ignored
    with Classifier(beit_classifier_artifact) as classifier:
        for record in records:
            expected = classifier.classify(str(mixed_folder / record["image"]), top_k=3)
            assert [(p["label"], p["id"]) for p in record["predictions"]] == [(p.label, p.id) for p in expected]
            np.testing.assert_allclose([p["score"] for p in record["predictions"]], [p.score for p in expected],
                                       rtol=1e-5)
    errors = _lines(tmp_path / "errors.jsonl")
    assert [error["image"] for error in errors] == list(BROKEN)
    assert {error["error"] for error in errors} == {"ImageDecodeError"}
    assert all("not a decodable image" in error["reason"] for error in errors)


def test_segmentation_writes_label_maps_and_overlays_equal_to_the_segmenter(beit_segmentation_artifact, mixed_folder,
                                                                             tmp_path):
    options = _options(tmp_path, overlays=True)
    summary = run_folder(beit_segmentation_artifact, [mixed_folder], options=options, batch_size=3)
    assert (summary.succeeded, summary.failed) == (len(GOOD), len(BROKEN))
    records = {record["image"]: record for record in _lines(tmp_path / "results.jsonl")}
    with Segmenter(beit_segmentation_artifact) as segmenter:
        for name in GOOD:
            image = load_image(mixed_folder / name)
            expected = segmenter(image).labels
            written = cv2.imread(str(tmp_path / f"{name}.png"), cv2.IMREAD_UNCHANGED)
            assert written.dtype == np.uint8 and written.shape == image.shape[:2]  # 10 classes: 8-bit, own size
            np.testing.assert_array_equal(written, expected)
            overlay = cv2.cvtColor(cv2.imread(str(tmp_path / f"{name}.overlay.png")), cv2.COLOR_BGR2RGB)
            np.testing.assert_array_equal(overlay, segmentation_picture(image, expected, id2label=segmenter.labels))
            assert records[name]["label_map"] == f"{name}.png"
            assert {c["id"] for c in records[name]["classes"]} == set(np.unique(expected).tolist())
    assert not (tmp_path / "broken" / "truncated.jpg.png").exists()


def test_embeddings_go_to_shards_named_by_each_line(beit_backbone_artifact, mixed_folder, tmp_path):
    run_folder(beit_backbone_artifact, [mixed_folder], options=_options(tmp_path, shard_size=4), batch_size=2)
    records = _lines(tmp_path / "results.jsonl")
    assert sorted(record["image"] for record in records) == sorted(GOOD)
    shards = sorted(path.name for path in (tmp_path / "embeddings").iterdir())
    assert shards == ["shard-00000.npy", "shard-00001.npy", "shard-00002.npy"]  # 4 + 4 + the last 1
    with FeatureExtractor(beit_backbone_artifact) as extractor:
        for record in records:
            vector = np.load(tmp_path / record["embedding"]["shard"])[record["embedding"]["row"]]
            expected = extractor.extract(str(mixed_folder / record["image"]))
            np.testing.assert_allclose(vector, expected, rtol=1e-5, atol=1e-6)
            assert record["dim"] == expected.shape[0]


def test_masked_image_modeling_writes_token_ids(beit_mim_artifact, mixed_folder, tmp_path):
    run_folder(beit_mim_artifact, [mixed_folder / "animals"], options=_options(tmp_path), batch_size=2)
    records = _lines(tmp_path / "results.jsonl")
    assert [record["image"] for record in records] == ["chelsea.jpg", "crops/chelsea-eye.png", "crops/tiny.png"]
    with MaskedImageModeler(beit_mim_artifact) as modeler:
        for record in records:
            path = mixed_folder / "animals" / record["image"]
            expected = modeler.predict(str(path), np.zeros(modeler.num_patches, dtype=bool))
            assert record["token_ids"] == expected.tolist()


def test_a_rerun_skips_what_is_done_and_retries_failures(beit_classifier_artifact, mixed_folder, tmp_path):
    first = run_folder(beit_classifier_artifact, [mixed_folder], options=_options(tmp_path), batch_size=4)
    assert first.failed == 2
    again = run_folder(beit_classifier_artifact, [mixed_folder], options=_options(tmp_path), batch_size=4)
    assert (again.skipped, again.succeeded, again.failed) == (len(GOOD), 0, 2)  # the two broken files again
    assert len(_lines(tmp_path / "results.jsonl")) == len(GOOD)
    assert [error["image"] for error in _lines(tmp_path / "errors.jsonl")] == list(BROKEN)  # once each, not twice


def test_a_rerun_with_other_settings_is_refused(beit_classifier_artifact, mixed_folder, tmp_path):
    run_folder(beit_classifier_artifact, [mixed_folder / "gray"], options=_options(tmp_path, top_k=2))
    with pytest.raises(InputError, match=r"top_k: 2 then, 3 now.*another --output"):
        run_folder(beit_classifier_artifact, [mixed_folder / "gray"], options=_options(tmp_path, top_k=3))


def test_files_and_folders_mix_and_equal_names_are_refused(beit_classifier_artifact, mixed_folder, tmp_path):
    inputs = [mixed_folder / "gray", mixed_folder / "rocket.jpg"]
    summary = run_folder(beit_classifier_artifact, inputs, options=_options(tmp_path / "a", pattern="*16.png"))
    assert summary.images == 2  # the glob applies to folders; files named are taken as given
    assert [record["image"] for record in _lines(tmp_path / "a" / "results.jsonl")] == ["camera16.png", "rocket.jpg"]
    twice = run_folder(beit_classifier_artifact, [mixed_folder / "animals", mixed_folder / "animals/chelsea.jpg"],
                       options=_options(tmp_path / "b"))
    assert twice.images == 3  # the same file given twice runs once
    other = tmp_path / "elsewhere" / "rocket.jpg"
    other.parent.mkdir()
    other.write_bytes((mixed_folder / "rocket.jpg").read_bytes())
    with pytest.raises(InputError, match=r"both write results named 'rocket\.jpg'"):
        run_folder(beit_classifier_artifact, [mixed_folder / "rocket.jpg", other], options=_options(tmp_path / "c"))


def test_a_rerun_keys_on_the_artifacts_files_not_its_path(beit_classifier_artifact, vit_classifier_artifact,
                                                          mixed_folder, tmp_path):
    model, images = tmp_path / "model", [mixed_folder / "gray"]
    shutil.copytree(beit_classifier_artifact, model)
    run_folder(model, images, options=_options(tmp_path / "out"))
    again = run_folder(shutil.copytree(model, tmp_path / "elsewhere"), images, options=_options(tmp_path / "out"))
    assert (again.skipped, again.succeeded) == (2, 0)  # the same files at another path: resumed
    shutil.rmtree(model)
    shutil.copytree(vit_classifier_artifact, model)  # re-exported at the same path: another model
    with pytest.raises(InputError, match=r"other settings \(a different artifact: its files changed\): rerun"):
        run_folder(model, images, options=_options(tmp_path / "out"))


def _plan_file(artifact, path, *, backend):
    plan = Plan(machine=machine_description(), machine_key=machine_key(), artifact=str(artifact),
                artifact_digest=load_manifest(artifact).files_digest, batch_size=8, max_drop=1.0,
                accuracy_source="agreement", chosen_backend=backend, chosen_precision="fp32", reason="test", rows=())
    return write_plan(plan, path)


def test_a_rerun_keys_on_what_a_plan_chose_not_on_auto(beit_classifier_artifact, mixed_folder, tmp_path):
    images, out = [mixed_folder / "gray"], tmp_path / "out"
    run_folder(beit_classifier_artifact, images, options=_options(out), precision="fp32")
    same = _plan_file(beit_classifier_artifact, tmp_path / "same.json", backend="onnxruntime")
    again = run_folder(beit_classifier_artifact, images, options=_options(out), precision="auto", plan=same)
    assert (again.skipped, again.succeeded) == (2, 0)
    other = _plan_file(beit_classifier_artifact, tmp_path / "other.json", backend="openvino")
    with pytest.raises(InputError, match="backend: 'onnxruntime' then, 'openvino' now"):
        run_folder(beit_classifier_artifact, images, options=_options(out), precision="auto", plan=other)
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["precision"] == "fp32"
