"""fp16 and int8 graphs of every task stay within TOLERANCES of the fp32 PyTorch model on ONNX Runtime CPU."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from beit_export.errors import ExportError
from beit_export.graph import inferred_types
from beit_export.parity import OUTPUT_KINDS, TOLERANCES, check_tolerances, drift_metrics, output_kind
from beit_export.parity.tolerances import near_tie_margin
from beit_export.precision import convert_model_to_fp16, convert_to_fp16, is_dynamic_int8, quantize_int8_static
from tests.export.precision_graphs import TASKS, tiny_graphs

VARIANT_PRECISION = {"fp32": "fp32", "fp16": "fp16", "int8": "int8", "int8-qdq": "int8"}


def _run(path, feeds):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds), strict=True))


@pytest.mark.parametrize("variant", sorted(VARIANT_PRECISION))
@pytest.mark.parametrize("task", TASKS)
def test_graph_is_within_tolerance_of_pytorch(task, variant):
    graphs = tiny_graphs(task)
    outputs = _run(graphs.path(variant), graphs.feeds)
    assert set(outputs) == set(graphs.reference)
    for name, reference in graphs.reference.items():
        assert outputs[name].dtype == np.float32, "reduced-precision graphs keep fp32 outputs"
        kind = output_kind(task, name)
        metrics = drift_metrics(reference, outputs[name], kind=kind)
        failures = check_tolerances(metrics, precision=VARIANT_PRECISION[variant], kind=kind)
        assert not failures, f"{task} {variant} {name}: {failures} ({metrics})"


def test_fp16_graph_keeps_sensitive_ops_in_fp32():
    graphs = tiny_graphs("image-classification")
    model = onnx.load(str(graphs.path("fp16")))
    types = inferred_types(model)
    assert [types[i.name] for i in model.graph.input] == [TensorProto.FLOAT]
    assert [types[o.name] for o in model.graph.output] == [TensorProto.FLOAT]
    for node in model.graph.node:
        if node.op_type in ("LayerNormalization", "Softmax"):
            assert types[node.input[0]] == TensorProto.FLOAT, f"{node.name} must run in fp32"
    matmul_inputs = [types[n.input[1]] for n in model.graph.node if n.op_type == "MatMul"]
    assert TensorProto.FLOAT16 in matmul_inputs, "linear layers should run in fp16"
    report = graphs.reports["fp16"]
    assert {"LayerNormalization", "Softmax"} <= set(report["fp32_op_types"])
    # 4 layers x 2 residual adds + 4 relative-position-bias adds
    assert report["fp32_nodes_by_rule"]["activation-add"] >= 12
    assert report["fp32_nodes_by_rule"]["layer-scale"] >= 8  # lambda_1, lambda_2 per layer
    assert "LayerNormalization" in report["notes"]


def _shape_arithmetic_graph() -> onnx.ModelProto:
    """y = x * (width * 0.001): the scale comes from the input's shape, not its values."""
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"], start=1, end=2, name="shape"),
        helper.make_node("Cast", ["shape"], ["width"], to=TensorProto.FLOAT, name="cast"),
        helper.make_node("Mul", ["width", "milli"], ["scale"], name="scale"),
        helper.make_node("Mul", ["x", "scale"], ["y"], name="apply"),
    ]
    graph = helper.make_graph(
        nodes,
        "shape_arithmetic",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "width"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "width"])],
        [helper.make_tensor("milli", TensorProto.FLOAT, [1], [0.001])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def test_fp16_keeps_shape_arithmetic_in_fp32():
    converted, report = convert_model_to_fp16(_shape_arithmetic_graph())
    assert "scale" in report["fp32_nodes"]
    assert "apply" not in report["fp32_nodes"]
    x = np.random.default_rng(0).standard_normal((2, 1000)).astype(np.float32)
    session = ort.InferenceSession(converted.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"x": x})[0], x, rtol=2e-3, atol=1e-3)


def test_int8_reports_say_where_each_graph_runs():
    graphs = tiny_graphs("backbone")
    dynamic, static = graphs.reports["int8"], graphs.reports["int8-qdq"]
    assert dynamic["method"] == "dynamic" and dynamic["for_tensorrt"] is False and dynamic["quantized_nodes"] > 0
    assert static["method"] == "static-qdq" and static["for_tensorrt"] is True
    assert static["calibration_images"] == 6 and static["quantize_nodes"] > 0  # 3 batches of 2, image by image
    assert is_dynamic_int8(onnx.load(str(graphs.path("int8"))))
    assert not is_dynamic_int8(onnx.load(str(graphs.path("int8-qdq"))))


def test_static_calibration_image_by_image_finds_the_ranges_of_the_whole_batch(tmp_path):
    graphs = tiny_graphs("image-classification")
    whole = [{name: value[:6] for name, value in graphs.feeds.items()}]
    pairs = [{name: value[i : i + 2] for name, value in graphs.feeds.items()} for i in range(0, 6, 2)]
    quantize_int8_static(graphs.path("fp32"), tmp_path / "whole.onnx", calibration_batches=whole)
    report = quantize_int8_static(graphs.path("fp32"), tmp_path / "pairs.onnx", calibration_batches=pairs)
    assert report["calibration_images"] == 6

    def scales(path):
        model = onnx.load(str(path))
        return {init.name: onnx.numpy_helper.to_array(init) for init in model.graph.initializer if "scale" in init.name}

    whole_scales, pair_scales = scales(tmp_path / "whole.onnx"), scales(tmp_path / "pairs.onnx")
    assert whole_scales.keys() == pair_scales.keys() and whole_scales
    for name, value in whole_scales.items():
        np.testing.assert_array_equal(pair_scales[name], value, err_msg=name)


def test_static_quantization_needs_matching_calibration_batches(tmp_path):
    src = tiny_graphs("image-classification").path("fp32")
    with pytest.raises(ExportError, match="at least one calibration batch"):
        quantize_int8_static(src, tmp_path / "a.onnx", calibration_batches=[])
    wrong = [{"images": np.zeros((1, 3, 32, 32), np.float32)}]
    with pytest.raises(ExportError, match="pixel_values"):
        quantize_int8_static(src, tmp_path / "b.onnx", calibration_batches=wrong)


def test_missing_source_graph_is_a_clear_error(tmp_path):
    with pytest.raises(ExportError, match="does not exist"):
        convert_to_fp16(tmp_path / "missing.onnx", tmp_path / "out.onnx")


def test_tolerances_cover_every_output_kind_and_loosen_with_precision():
    kinds = {kind for outputs in OUTPUT_KINDS.values() for kind in outputs.values()}
    for precision in ("fp32", "fp16", "int8"):
        assert set(TOLERANCES[precision]) == kinds
    for kind in kinds:
        for metric in TOLERANCES["fp32"][kind]:
            looser = [TOLERANCES[p][kind][metric] for p in ("fp32", "fp16", "int8")]
            assert looser == (sorted(looser, reverse=True) if metric.endswith("agreement") else sorted(looser))


def test_drift_metrics_and_tolerance_check():
    reference = np.array([[1.0, 2.0, 3.0], [3.0, 1.0, 0.0]], np.float32)
    output = reference + np.array([[0.0, 0.0, 0.1], [0.0, 3.5, 0.0]], np.float32)
    metrics = drift_metrics(reference, output, kind="logits")
    assert metrics["top1_agreement"] == 0.5
    assert metrics["max_abs"] == pytest.approx(3.5)
    failures = check_tolerances(metrics, precision="fp16", kind="logits")
    assert any("top1_agreement" in failure for failure in failures)
    assert check_tolerances(drift_metrics(reference, reference, kind="logits"), precision="fp32", kind="logits") == []
    labels = np.array([[1, 2], [3, 4]])
    assert drift_metrics(labels, labels[::-1], kind="label_map") == {"pixel_agreement": 0.0}
    nan = drift_metrics(reference, np.full_like(reference, np.nan), kind="hidden_states")
    assert check_tolerances(nan, precision="int8", kind="hidden_states")


def test_a_flip_the_reference_itself_barely_decides_is_a_near_tie_within_the_budget():
    # image 0: the reference prefers class 0 by 5e-5 of max |ref| = 3, the output picks class 1 (a near-tie at
    # fp16's margin, 1e-3); image 1: a decisive reference (margin 3) flipped by a large drift; image 2: agrees
    reference = np.array([[3.0, 2.99985, 0.0], [3.0, 0.0, 0.0], [0.0, 1.0, 2.0]], np.float32)
    output = np.array([[2.9999, 3.0, 0.0], [3.0, 3.5, 0.0], [0.0, 1.0, 2.01]], np.float32)
    exact = drift_metrics(reference, output, kind="logits")
    assert exact["top1_agreement"] == pytest.approx(1 / 3) and exact["top1_near_ties"] == 0
    budget = near_tie_margin("fp16", "logits")
    assert budget == 1e-3 and near_tie_margin("fp32", "logits") == TOLERANCES["fp32"]["logits"]["max_abs_scaled"]
    judged = drift_metrics(reference, output, kind="logits", near_tie=budget)
    assert judged["top1_agreement"] == pytest.approx(2 / 3) and judged["top1_near_ties"] == 1
    assert any("top1_agreement" in failure for failure in check_tolerances(judged, precision="fp16", kind="logits"))
    segmentation = np.stack([reference.T, output.T])[:, None]  # class axis 1 for segmentation_logits
    pixels = drift_metrics(segmentation[0:1, 0], segmentation[1:2, 0], kind="segmentation_logits", near_tie=budget)
    assert pixels["top1_near_ties"] == 1


def test_output_kind_names_every_task_output():
    assert output_kind("semantic-segmentation", "labels") == "label_map"
    assert output_kind("backbone", "pooler_output") == "hidden_states"
    with pytest.raises(ExportError, match="outputs"):
        output_kind("image-classification", "pooler_output")


def test_fp16_handles_an_initializer_shared_by_fp32_and_fp16_nodes():
    """Random-init checkpoints share one all-ones LayerNorm weight across layers (and with other nodes)."""
    ones = helper.make_tensor("ones", TensorProto.FLOAT, [4], [1.0] * 4)
    zeros = helper.make_tensor("zeros", TensorProto.FLOAT, [4], [0.0] * 4)
    weight = helper.make_tensor("w", TensorProto.FLOAT, [4, 4], list(np.eye(4, dtype=np.float32).ravel()))
    nodes = [
        helper.make_node("LayerNormalization", ["x", "ones", "zeros"], ["a"], name="ln1"),
        helper.make_node("MatMul", ["a", "w"], ["b"], name="linear"),
        helper.make_node("Mul", ["b", "ones"], ["c"], name="scale"),
        helper.make_node("LayerNormalization", ["c", "ones", "zeros"], ["y"], name="ln2"),
    ]
    graph = helper.make_graph(nodes, "shared", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])], [ones, zeros, weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    converted, _ = convert_model_to_fp16(model)
    onnx.checker.check_model(converted, full_check=True)
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)

    def run(m):
        return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]

    np.testing.assert_allclose(run(converted), run(model), atol=2e-3)


def test_fp16_dynamic_resolution_graph_matches_pytorch_at_another_size(tmp_path):
    import torch

    from beit_export.graph import export_onnx
    from beit_export.modeling import make_export_module
    from tests.tiny_models import tiny_model

    module = make_export_module(tiny_model("beit", "image-classification"), task="image-classification",
                                dynamic_resolution=True)
    export_onnx(module, task_spec=module.task_spec, path=tmp_path / "model.onnx",
                example_inputs=(torch.randn(2, 3, 32, 48),), dynamic_resolution=True)
    report = convert_to_fp16(tmp_path / "model.onnx", tmp_path / "model.fp16.onnx")
    assert report["fp32_nodes_by_rule"]["constant-or-shape-arithmetic"] > 0
    # 40x24 is small; 384x400 is 2,401 tokens and a bias table of 4,607 rows: sizes fp16 cannot count to exactly
    # (integers above 2048), which the graph's shape arithmetic must therefore never pass through
    for shape, seed in (((3, 3, 40, 24), 3), ((1, 3, 384, 400), 4)):
        pixels = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
        with torch.no_grad():
            reference = module(torch.from_numpy(pixels))[0].numpy()
        logits = _run(tmp_path / "model.fp16.onnx", {"pixel_values": pixels})["logits"]
        metrics = drift_metrics(reference, logits, kind="logits")
        assert check_tolerances(metrics, precision="fp16", kind="logits") == [], (shape, metrics)


def test_fp16_conversion_leaves_no_fp32_to_fp16_to_fp32_round_trip():
    """Between two nodes kept fp32 the converter routes the tensor through a Cast to fp16 and back; the
    conversion bypasses every such pair (the trip rounds: integers above 2048 too)."""
    graph = onnx.load(str(tiny_graphs("semantic-segmentation").path("fp16")), load_external_data=False).graph
    casts = {node.output[0]: node for node in graph.node if node.op_type == "Cast"}
    round_trips = [node.name for node in casts.values() if node.input[0] in casts
                   and casts[node.input[0]].attribute[0].i == onnx.TensorProto.FLOAT16
                   and node.attribute[0].i == onnx.TensorProto.FLOAT]
    assert sum(node.op_type == "Cast" for node in graph.node) > 0 and round_trips == []



def test_static_int8_quantizes_the_segmentation_head_but_not_its_ends(tmp_path):
    graphs = tiny_graphs("semantic-segmentation")
    batches = [{name: value[i : i + 2] for name, value in graphs.feeds.items()} for i in range(0, 6, 2)]
    report = quantize_int8_static(graphs.path("fp32"), tmp_path / "q.onnx", calibration_batches=batches)
    model = onnx.load(str(tmp_path / "q.onnx"))
    produced_by = {out: node.op_type for node in model.graph.node for out in node.output}
    convs = [node for node in model.graph.node if node.op_type == "Conv"]
    quantized = [node for node in convs if produced_by.get(node.input[0]) == "DequantizeLinear"]
    assert len(quantized) == len(convs) - 2 >= 1
    first = next(node for node in convs if node.input[0] == "pixel_values")
    classifier = next(node for node in convs if "logits" in node.output)
    assert first not in quantized and classifier not in quantized
    assert report["quantized_convolutions"] == len(quantized) and "Conv" in report["quantized_op_types"]
