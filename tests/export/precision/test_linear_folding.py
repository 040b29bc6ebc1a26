"""Layer scales folded into their linear layers and q/k/v biases moved into MultiHeadAttention: the same
function as the exported fp32 graph (a tiny BEiT whose biases and layer scales are randomised, so that
a misplaced bias or scale shows), and nothing folded where the pattern does not hold."""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from beit_export.graph import export_onnx
from beit_export.modeling import make_export_module
from beit_export.parity.tolerances import check_tolerances, drift_metrics
from beit_export.precision.fused_attention import convert_to_fused_fp16, fuse_attention, remove_dead_nodes
from beit_export.precision.linear_folding import fold_layer_scales
from beit_export.precision.packed_attention import pack_attention
from tests.export.precision_graphs import _feeds
from tests.tiny_models import tiny_model

TASK = "image-classification"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(fp32 graph path, feeds, PyTorch logits, layers) of a tiny BEiT with random biases and layer scales."""
    model = tiny_model("beit", TASK)
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("bias") or "lambda" in name:
                parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.3)
    module = make_export_module(model, task=TASK, dynamic_resolution=False)
    feeds = _feeds(TASK, model)
    path = tmp_path_factory.mktemp("folding") / "model.onnx"
    export_onnx(module, task_spec=module.task_spec, path=path,
                example_inputs=(torch.from_numpy(feeds["pixel_values"][:2]),))
    with torch.no_grad():
        logits = module(torch.from_numpy(feeds["pixel_values"]))[0].numpy()
    return path, feeds, logits, model.config.num_hidden_layers


def _run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> np.ndarray:
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)[0]


def _rel_l2(got: np.ndarray, expected: np.ndarray) -> float:
    return float(np.linalg.norm(got - expected) / np.linalg.norm(expected))


def test_layer_scales_fold_into_the_linear_layers(exported):
    path, feeds, logits, layers = exported
    model = onnx.load(str(path))
    lambdas = {init.name for init in model.graph.initializer if "lambda" in init.name}
    assert fold_layer_scales(model) == 2 * layers
    remove_dead_nodes(model.graph)
    assert not any(name in lambdas for node in model.graph.node for name in node.input)
    onnx.checker.check_model(model, full_check=True)
    assert _rel_l2(_run(model, feeds), _run(onnx.load(str(path)), feeds)) < 1e-6
    assert _rel_l2(_run(model, feeds), logits) < 1e-6


def test_fused_fp32_graph_keeps_the_function(exported):
    """Attention fused with the q/k/v biases as the node's bias input, then layer scales folded, no fp16."""
    path, feeds, logits, layers = exported
    model = onnx.load(str(path))
    assert fuse_attention(model) == layers and fold_layer_scales(model) == 2 * layers
    remove_dead_nodes(model.graph)
    ops = Counter(node.op_type for node in model.graph.node)
    assert ops["MultiHeadAttention"] == layers and ops["Mul"] == 2 * layers  # only GELU's two Muls are left
    assert _rel_l2(_run(model, feeds), logits) < 1e-5


def test_fused_norms_graph_has_no_separate_bias_or_scale_kernels(exported, tmp_path):
    path, feeds, logits, layers = exported
    report = convert_to_fused_fp16(path, tmp_path / "norms.onnx", fuse_norms=True)
    assert report["layer_scales_folded"] == 2 * layers and "layer scales folded" in report["notes"]
    ops = Counter(node.op_type for node in onnx.load(str(tmp_path / "norms.onnx")).graph.node)
    assert ops["Mul"] == 0 and ops["BiasGelu"] == layers and ops["SkipLayerNormalization"] == 2 * layers - 1
    session = onnxruntime.InferenceSession(str(tmp_path / "norms.onnx"), providers=["CPUExecutionProvider"])
    metrics = drift_metrics(logits, session.run(None, feeds)[0], kind="logits")
    assert check_tolerances(metrics, precision="fp16", kind="logits") == []


def _linear_then_scale(gamma: np.ndarray, *, extra_reader: bool) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((4, 3)).astype(np.float32), "W"),
             numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), "b"),
             numpy_helper.from_array(gamma.astype(np.float32), "gamma")]
    nodes = [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["linear"]),
             helper.make_node("Mul", ["linear", "gamma"], ["y"])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    if extra_reader:
        nodes.append(helper.make_node("Relu", ["linear"], ["z"]))
        outputs.append(helper.make_tensor_value_info("z", TensorProto.FLOAT, None))
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 5, 4])
    return helper.make_model(helper.make_graph(nodes, "g", [x], outputs, inits),
                             opset_imports=[helper.make_opsetid("", 18)])


@pytest.mark.parametrize(("gamma", "extra_reader", "folded"), [
    (np.array([0.5, -2.0, 3.0]), False, 1),
    (np.array([[[0.5, -2.0, 3.0]]]), False, 1),  # [1, 1, C] broadcasts over the channels only
    (np.array([0.5]), False, 0),  # a scalar is not a per-channel scale of this 3-channel layer
    (np.array([0.5, -2.0, 3.0]), True, 0),  # the unscaled output is read elsewhere: it must stay
])
def test_only_per_channel_scales_of_private_linear_layers_fold(gamma, extra_reader, folded):
    model = _linear_then_scale(gamma, extra_reader=extra_reader)
    feeds = {"x": np.random.default_rng(1).standard_normal((2, 5, 4)).astype(np.float32)}
    before = _run(model, feeds)
    assert fold_layer_scales(model) == folded
    assert Counter(node.op_type for node in model.graph.node)["Mul"] == 1 - folded
    np.testing.assert_allclose(_run(model, feeds), before, rtol=1e-6, atol=1e-6)


def test_packed_attention_graph_keeps_the_function(exported, tmp_path):
    """The GPU experiment: one packed q/k/v projection per block (com.microsoft.Attention), fp32 and fp16."""
    path, feeds, logits, layers = exported
    model = onnx.load(str(path))
    fuse_attention(model)
    fold_layer_scales(model)
    assert pack_attention(model) == layers
    remove_dead_nodes(model.graph)
    ops = Counter(node.op_type for node in model.graph.node)
    assert ops["Attention"] == layers and ops["MultiHeadAttention"] == 0
    assert _rel_l2(_run(model, feeds), logits) < 1e-5
    report = convert_to_fused_fp16(path, tmp_path / "packed.onnx", fuse_norms=True, pack_qkv=True)
    assert report["packed_attention_blocks"] == layers and "Attention (one packed" in report["notes"]
    session = onnxruntime.InferenceSession(str(tmp_path / "packed.onnx"), providers=["CPUExecutionProvider"])
    metrics = drift_metrics(logits, session.run(None, feeds)[0], kind="logits")
    assert check_tolerances(metrics, precision="fp16", kind="logits") == []
