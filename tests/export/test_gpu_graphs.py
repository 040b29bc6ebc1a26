"""``--fused-attention`` and ``--uint8-input`` through the real pipeline: the extra graphs, their manifest
records and parity, and the options that ask for them."""

from __future__ import annotations

import numpy as np
import pytest

from beit_export.cli.export import build_parser, export_options
from beit_export.options import ExportOptions, ExportOptionsError
from beit_export.pipeline import export_artifact
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
