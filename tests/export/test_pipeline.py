"""End-to-end exports of tiny models: every task, BEiT and ViT, manifests, variants, all-or-nothing."""

from __future__ import annotations

import importlib.util

import numpy as np
import onnx
import pytest
import torch

from beit_export.artifact import OutputExistsError
from beit_export.errors import ParityError
from beit_export.options import ExportOptions
from beit_export.pipeline import export_artifact
from beit_runtime.engines import load_engine
from beit_runtime.errors import BackendUnavailableError
from beit_runtime.manifest import load_manifest
from tests.conftest import tiny_checkpoint

ARTIFACTS = {
    "beit_classifier_artifact": ("image-classification", ["logits"]),
    "vit_classifier_artifact": ("image-classification", ["logits"]),
    "beit_backbone_artifact": ("backbone", ["last_hidden_state", "pooler_output"]),
    "beit_mim_artifact": ("masked-image-modeling", ["logits"]),
    "beit_segmentation_artifact": ("semantic-segmentation", ["logits"]),
    "beit_dynamic_classifier_artifact": ("image-classification", ["logits"]),
}
INDEX_BUILDING_OPS = {"ScatterND", "ScatterElements", "GatherND", "Resize"}


def _feeds(manifest, batch, height, width):
    feeds = {"pixel_values": np.random.default_rng(0).standard_normal((batch, 3, height, width), dtype=np.float32)}
    if manifest.task == "masked-image-modeling":
        feeds["bool_masked_pos"] = np.zeros((batch, (height // 8) * (width // 8)), dtype=bool)
    return feeds


@pytest.mark.parametrize("fixture", sorted(ARTIFACTS))
def test_artifact_checks_loads_and_batches(fixture, request):
    folder = request.getfixturevalue(fixture)
    task, outputs = ARTIFACTS[fixture]
    manifest = load_manifest(folder)
    assert manifest.task == task
    onnx.checker.check_model(str(folder / "model.onnx"), full_check=True)
    ops = {node.op_type for node in onnx.load(str(folder / "model.onnx")).graph.node}
    assert not ops & INDEX_BUILDING_OPS
    graph = manifest.graphs["fp32"]
    assert list(graph.output_names) == outputs
    assert all(spec.shape[0] == "batch" for spec in graph.inputs + graph.outputs)
    assert manifest.parity["fp32"].passed
    with load_engine(folder / "model.onnx", providers=["CPUExecutionProvider"]) as engine:
        result = engine.run(_feeds(manifest, 3, 32, 32))
    assert all(result[name].shape[0] == 3 and np.isfinite(result[name]).all() for name in outputs)


def test_classifier_manifest_contents(beit_classifier_artifact):
    data = load_manifest(beit_classifier_artifact).to_json()
    assert data["format"] == "beit-deploy-artifact" and data["schema_version"] == 2 and "plans" not in data
    assert data["source"] == {"model": "tiny-beit-image-classification", "revision": None,
                              "architecture": "BeitForImageClassification", "model_type": "beit", "random_init": False}
    assert data["input"] == {"height": 32, "width": 32, "patch_size": 8, "dynamic_batch": True,
                             "dynamic_resolution": False, "num_channels": 3, "num_attention_heads": 2}
    assert data["preprocessing"]["resample"] == "bilinear"
    assert data["preprocessing"]["size"] == {"height": 32, "width": 32}
    assert data["labels"] == {str(i): f"class_{i}" for i in range(10)}
    graph = data["graphs"]["fp32"]
    assert graph["file"] == "model.onnx" and graph["precision"] == "fp32" and graph["opset"] == 18
    assert graph["inputs"] == [{"name": "pixel_values", "dtype": "float32", "shape": ["batch", 3, 32, 32]}]
    assert graph["outputs"] == [{"name": "logits", "dtype": "float32", "shape": ["batch", 10]}]
    assert set(data["files"]) == {"model.onnx"} and data["engines"] == {}
    parity = data["parity"]["fp32"]
    assert parity["precision"] == "fp32" and parity["outputs"]["logits"]["max_abs"] <= 1e-4
    assert parity["outputs"]["logits"]["top1_agreement"] == 1.0
    assert {"torch", "transformers", "onnx", "onnxruntime"} <= set(data["versions"])
    assert data["export"]["tensorrt_compatibility"]["fp32"]["compatible"]


def test_dynamic_resolution_artifact(beit_dynamic_classifier_artifact):
    manifest = load_manifest(beit_dynamic_classifier_artifact)
    assert manifest.input.dynamic_resolution is True
    assert manifest.graphs["fp32"].inputs[0].shape == ("batch", 3, "height", "width")
    sizes = {tuple(case["inputs"]["pixel_values"][2:]) for case in manifest.parity["fp32"].cases}
    assert len(sizes) >= 3 and any(h != w for h, w in sizes)
    with load_engine(beit_dynamic_classifier_artifact / "model.onnx", providers=["CPUExecutionProvider"]) as engine:
        assert engine.run(_feeds(manifest, 2, 24, 40))["logits"].shape == (2, 10)


def test_segmentation_artifact(beit_segmentation_artifact):
    manifest = load_manifest(beit_segmentation_artifact)
    assert manifest.graphs["postprocess"].role == "postprocess"
    # UperNet's logits come out at patch_size / 4: stride 2 for the tiny 8x8 patches (4 for 16x16 patches)
    assert manifest.postprocessing.logits_stride == 2 and manifest.postprocessing.align_corners is False
    assert manifest.parity["postprocess"].outputs["labels"]["pixel_agreement"] == 1.0
    assert manifest.graphs["fp32"].outputs[0].shape == ("batch", 10, 16, 16)
    assert len(manifest.labels) == 10


def test_fp16_and_int8_variants(tmp_path):
    options = ExportOptions(fp16=True, int8=True)
    output = export_artifact(tiny_checkpoint("vit", "image-classification"), output=tmp_path / "v", options=options)
    manifest = load_manifest(output)
    assert set(manifest.graphs) == {"fp32", "fp16", "int8"}
    assert {manifest.graphs[v].precision for v in ("fp16", "int8")} == {"fp16", "int8"}
    assert set(manifest.files) == {"model.onnx", "model.fp16.onnx", "model.int8.onnx"}
    for variant in ("fp16", "int8"):
        parity = manifest.parity[variant]
        assert parity.passed and parity.precision == variant and parity.conversion is not None


def _fail_at(step: str, action):
    def progress(message: str) -> None:
        if message.startswith(step):
            action()
    return progress


def test_parity_failure_leaves_no_folder(tmp_path):
    checkpoint = tiny_checkpoint("beit", "image-classification")

    def perturb():  # the PyTorch reference changes after export: the graph no longer matches it
        with torch.no_grad():
            checkpoint.model.classifier.bias += 0.01

    with pytest.raises(ParityError, match="logits"):
        export_artifact(checkpoint, output=tmp_path / "out", progress=_fail_at("building parity cases", perturb))
    assert list(tmp_path.iterdir()) == []


def test_interrupt_leaves_no_folder(tmp_path):
    def interrupt():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export_artifact(tiny_checkpoint("vit", "backbone"), output=tmp_path / "out",
                        progress=_fail_at("checking the graph", interrupt))
    assert list(tmp_path.iterdir()) == []


def test_existing_output_refused_before_any_work(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("keep")
    with pytest.raises(OutputExistsError):
        export_artifact(tiny_checkpoint("vit", "backbone"), output=tmp_path / "out",
                        progress=_fail_at("", lambda: pytest.fail("export started")))
    assert (tmp_path / "out" / "keep.txt").read_text() == "keep"


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_tensorrt_flag_without_tensorrt(tmp_path):
    with pytest.raises(BackendUnavailableError, match="build-engine"):
        export_artifact(tiny_checkpoint("vit", "backbone"), output=tmp_path / "out",
                        options=ExportOptions(tensorrt=True))
    assert list(tmp_path.iterdir()) == []


def test_int8_keeps_the_head_bottlenecks_float_when_the_quantized_head_fails_parity(tmp_path):
    # a random tiny UperNet head has logits of ~1e-3: its int8 PSP/FPN bottlenecks cannot hold the tolerances
    output = export_artifact(tiny_checkpoint("beit", "semantic-segmentation"), output=tmp_path / "s",
                             options=ExportOptions(int8=True))
    conversion = load_manifest(output).parity["int8"].conversion
    assert conversion["quantized_convolutions"] > 0 and conversion["head_convolutions"] == "except-bottlenecks"
    assert list(conversion["rejected_head_convolutions"]) == ["all"] and len(conversion["float_convolutions"]) == 2
    assert load_manifest(output).parity["int8"].passed
