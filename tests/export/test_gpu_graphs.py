"""``--fused-attention`` (with and without ``--fused-norms``) and ``--uint8-input`` through the real
pipeline: the extra graphs, their manifest records and parity, and the options that ask for them."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from beit_export.cli.export import build_parser, export_options
from beit_export.options import ExportOptions, ExportOptionsError
from beit_export.pipeline import export_artifact
from beit_runtime import Classifier
from beit_runtime.engines import load_engine
from beit_runtime.manifest import load_manifest
from tests.conftest import tiny_checkpoint


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    options = ExportOptions(fp16=True, fused_attention=True, uint8_input=True)
    return export_artifact(tiny_checkpoint("beit", "image-classification"),
                           output=tmp_path_factory.mktemp("gpu") / "artifact", options=options)


def test_graphs_records_and_parity(artifact):
    manifest = load_manifest(artifact)
    assert list(manifest.graphs) == ["fp32", "fp16", "fp16-fused", "fp32-uint8", "fp16-uint8", "fp16-fused-uint8"]
    fused = manifest.graphs["fp16-fused"]
    assert fused.file == "model.fp16-fused.onnx" and fused.precision == "fp16"
    assert "attention blocks fused into MultiHeadAttention" in fused.notes
    record = manifest.parity["fp16-fused"]
    assert record.passed and record.precision == "fp16"
    assert record.conversion["fused_attention_blocks"] == 4
    for source in ("fp32", "fp16", "fp16-fused"):
        graph = manifest.graphs[f"{source}-uint8"]
        assert graph.input_names == ("pixels",) and graph.precision == manifest.graphs[source].precision
        assert "max |diff| 0" in graph.notes
    assert "fp16-fused" in manifest.export.tensorrt_compatibility  # every graph gets its static report


def test_fused_graph_runs_like_the_fp16_graph(artifact):
    pixels = np.random.default_rng(3).standard_normal((2, 3, 32, 32)).astype(np.float32)
    cpu = ["CPUExecutionProvider"]
    with load_engine(artifact / "model.fp16.onnx", providers=cpu) as plain, \
            load_engine(artifact / "model.fp16-fused.onnx", providers=cpu) as fused:
        np.testing.assert_allclose(fused.run({"pixel_values": pixels})["logits"],
                                   plain.run({"pixel_values": pixels})["logits"], atol=2e-3)


def test_options_and_cli_flags():
    assert ExportOptions(fused_attention=True, uint8_input=True).record()["fused_attention"] is True
    assert "fused_attention" not in ExportOptions().record() and "uint8_input" not in ExportOptions().record()
    with pytest.raises(ExportOptionsError, match="fused_attention must be True or False"):
        ExportOptions(fused_attention="yes")
    args = build_parser().parse_args(["--model", "m", "--fused-attention", "--uint8-input"])
    options = export_options(args)
    assert options.fused_attention and options.uint8_input and not options.fp16


def test_fused_norms_graph_is_recorded_checked_and_run_by_the_runtime(beit_fused_norms_artifact, artifact):
    norms_artifact = beit_fused_norms_artifact
    manifest = load_manifest(norms_artifact)
    assert manifest.export.fused_norms and not load_manifest(artifact).export.fused_norms
    record = manifest.parity["fp16-fused"]
    assert record.passed and record.conversion["fused_operators"]["SkipLayerNormalization"] > 0
    assert "LayerNorm/GELU fusions" in manifest.graphs["fp16-fused"].notes
    ops = {node.op_type for node in onnx.load(str(norms_artifact / "model.fp16-fused.onnx")).graph.node}
    assert {"SkipLayerNormalization", "BiasGelu", "MultiHeadAttention"} <= ops and "Mul" not in ops
    image = np.random.default_rng(4).integers(0, 256, (40, 52, 3), dtype=np.uint8)
    cpu = ["CPUExecutionProvider"]
    with Classifier(norms_artifact, precision="fp16", fused_attention=True, providers=cpu) as fused, \
            Classifier(norms_artifact, providers=cpu) as reference:
        assert fused.engine.path.name == "model.fp16-fused.onnx"
        got, expected = fused.logits(image), reference.logits(image)
    np.testing.assert_allclose(got, expected, atol=5e-3 * float(np.abs(expected).max()))


def test_fused_norms_needs_fused_attention():
    with pytest.raises(ExportOptionsError, match="add --fused-attention"):
        ExportOptions(fp16=True, fused_norms=True)
    assert ExportOptions(fp16=True, fused_attention=True, fused_norms=True).record()["fused_norms"] is True
    assert "fused_norms" not in ExportOptions(fp16=True, fused_attention=True).record()
    args = build_parser().parse_args(["--model", "m", "--fp16", "--fused-attention", "--fused-norms"])
    assert export_options(args).fused_norms
