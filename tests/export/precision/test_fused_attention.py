"""The fused-attention fp16 graph: every attention block of the real exported graphs becomes one
MultiHeadAttention node with the relative position bias as attention_bias, and the graph stays within the
fp16 tolerances of the PyTorch model on ONNX Runtime's CPU provider (the same check the exporter records)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper

from beit_export.errors import ExportError
from beit_export.parity.tolerances import check_tolerances, drift_metrics, output_kind
from beit_export.precision import convert_to_fp16
from beit_export.precision.fused_attention import MS_DOMAIN, convert_to_fused_fp16, fuse_attention
from tests.export.precision_graphs import _export
from tests.tiny_models import tiny_model

TASKS = ("image-classification", "semantic-segmentation", "masked-image-modeling")


@pytest.fixture(scope="module", params=TASKS)
def graphs(request, tmp_path_factory):
    return _export(request.param, tmp_path_factory.mktemp(request.param))


def _run(path, feeds):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds), strict=True))


def _softmax_count(graphs) -> int:
    return sum(node.op_type == "Softmax" for node in onnx.load(str(graphs.path("fp32"))).graph.node)


def test_every_attention_block_is_fused(graphs):
    model = onnx.load(str(graphs.path("fp32")))
    layers = _softmax_count(graphs)  # every attention block the graph computes (the model may prune some)
    assert 0 < layers <= tiny_model("beit", graphs.task).config.num_hidden_layers
    assert fuse_attention(model) == layers
    ops = Counter(node.op_type for node in model.graph.node)
    assert ops["MultiHeadAttention"] == layers and ops["Softmax"] == 0
    biases = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    for node in (n for n in model.graph.node if n.op_type == "MultiHeadAttention"):
        assert node.domain == MS_DOMAIN and len(node.input) == 6 and node.input[5]  # attention_bias is bound
        assert node.input[4] == ""
        hidden = tiny_model("beit", graphs.task).config.hidden_size
        qkv_bias = biases[node.input[3]]  # the projections' biases, key's part zero (BEiT's key has none)
        assert qkv_bias.shape == (3 * hidden,) and not qkv_bias[hidden:2 * hidden].any()
    onnx.checker.check_model(model, full_check=True)


def test_fused_fp16_graph_is_within_fp16_tolerances(graphs):
    report = convert_to_fused_fp16(graphs.path("fp32"), graphs.folder / "model.fp16-fused.onnx")
    convert_to_fp16(graphs.path("fp32"), graphs.path("fp16"))
    assert report["fused_attention_blocks"] == _softmax_count(graphs)
    assert "LayerNormalization" in report["fp32_op_types"] and "MultiHeadAttention" in report["notes"]
    fused = _run(graphs.folder / "model.fp16-fused.onnx", graphs.feeds)
    plain = _run(graphs.path("fp16"), graphs.feeds)
    for name, reference in graphs.reference.items():
        kind = output_kind(graphs.task, name)
        assert check_tolerances(drift_metrics(reference, fused[name], kind=kind), precision="fp16", kind=kind) == []
        assert drift_metrics(plain[name], fused[name], kind=kind)["rel_l2"] < 2e-3  # same precision rules


def test_norm_fusions_variant_is_within_fp16_tolerances(graphs):
    report = convert_to_fused_fp16(graphs.path("fp32"), graphs.folder / "norms.onnx", fuse_norms=True)
    assert report["fused_operators"]["SkipLayerNormalization"] > 0 and report["fused_operators"]["BiasGelu"] > 0
    outputs = _run(graphs.folder / "norms.onnx", graphs.feeds)
    for name, reference in graphs.reference.items():
        kind = output_kind(graphs.task, name)
        metrics = drift_metrics(reference, outputs[name], kind=kind)
        assert check_tolerances(metrics, precision="fp16", kind=kind) == [], name


def test_graph_without_attention_is_refused(tmp_path):
    x = helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 4])
    model = helper.make_model(helper.make_graph([helper.make_node("Softmax", ["pixel_values"], ["logits"])], "g",
                                                [x], [y]), opset_imports=[helper.make_opsetid("", 18)])
    onnx.save(model, tmp_path / "softmax.onnx")
    with pytest.raises(ExportError, match=r"no self-attention block .* matched the fusion pattern"):
        convert_to_fused_fp16(tmp_path / "softmax.onnx", tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()
    assert np.isfinite(_run(tmp_path / "softmax.onnx", {"pixel_values": np.ones((1, 4), np.float32)})["logits"]).all()
