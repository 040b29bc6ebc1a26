"""The static TensorRT check passes every exported graph and names what TensorRT would refuse."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from beit_export.errors import TensorRTCompatibilityError
from beit_export.graph import build_segmentation_postprocess, export_onnx
from beit_export.modeling import make_export_module
from beit_export.tensorrt import (
    check_tensorrt_compatibility,
    supported_operator_table,
    tensorrt_compatibility_report,
)
from tests.export.precision_graphs import TASKS, tiny_graphs
from tests.tiny_models import tiny_model


def _model(nodes, inputs, outputs, initializers=(), *, opset=18) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _float(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


@pytest.mark.parametrize("variant", ["fp32", "fp16", "int8-qdq"])
@pytest.mark.parametrize("task", TASKS)
def test_every_exported_graph_passes(task, variant):
    report = check_tensorrt_compatibility(tiny_graphs(task).path(variant))
    assert report["compatible"] and report["errors"] == []
    assert report["opset"] == 18 and report["int64"]["data"] == []
    assert "LayerNormalization" in report["op_counts"]


def test_dynamic_resolution_graph_passes(tmp_path):
    model = tiny_model("beit", "image-classification")
    module = make_export_module(model, task="image-classification", dynamic_resolution=True)
    path = tmp_path / "dynamic.onnx"
    export_onnx(module, task_spec=module.task_spec, path=path, example_inputs=(torch.randn(2, 3, 32, 48),),
                dynamic_resolution=True)
    report = check_tensorrt_compatibility(path)
    assert report["int64"]["shape_computation"] > 0 and report["int64"]["data"] == []


def test_segmentation_postprocess_graph_passes():
    report = check_tensorrt_compatibility(build_segmentation_postprocess(num_labels=5))
    assert report["int64"]["index_output"] == 1  # ArgMax indices, cast to int32 at once


def test_dynamic_int8_graph_is_reported_as_not_for_tensorrt():
    path = tiny_graphs("image-classification").path("int8")
    report = tensorrt_compatibility_report(path)
    assert not report["compatible"]
    assert "ONNX Runtime only" in report["not_for_tensorrt"]
    assert {"DynamicQuantizeLinear", "MatMulInteger"} <= set(report["unsupported_ops"])
    with pytest.raises(TensorRTCompatibilityError, match="ONNX Runtime only") as caught:
        check_tensorrt_compatibility(path)
    assert caught.value.report["target"] == "10"


def test_unsupported_op_fails_with_its_name():
    nodes = [
        helper.make_node("Unique", ["x"], ["y"], name="dedupe"),
        helper.make_node("FusedMatMul", ["x", "x"], ["z"], domain="com.microsoft", name="fused"),
    ]
    model = _model(nodes, [_float("x", [4])], [_float("y", [None]), _float("z", [4])])
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    with pytest.raises(TensorRTCompatibilityError) as caught:
        check_tensorrt_compatibility(model)
    message = str(caught.value)
    assert "op Unique is not supported" in message and "dedupe" in message
    assert "com.microsoft::FusedMatMul" in message


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"mode": "cubic"}, "mode 'cubic'"),
        ({"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize"}, "tf_crop_and_resize"),
        ({"mode": "linear", "antialias": 1}, "antialias"),
        ({"mode": "linear", "coordinate_transformation_mode": "half_pixel"}, None),
    ],
)
def test_resize_attributes(attributes, expected):
    scales = helper.make_tensor("scales", TensorProto.FLOAT, [4], [1, 1, 2, 2])
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], name="up", **attributes)
    model = _model([node], [_float("x", [1, 1, 4, 4])], [_float("y", [1, 1, 8, 8])], [scales])
    report = tensorrt_compatibility_report(model)
    if expected is None:
        assert report["compatible"], report["errors"]
    else:
        assert any(expected in error for error in report["errors"]), report["errors"]


def test_topk_needs_a_constant_k_and_argmax_the_first_index():
    k_input = helper.make_tensor_value_info("k", TensorProto.INT64, [1])
    nodes = [
        helper.make_node("TopK", ["x", "k"], ["values", "indices"], name="topk"),
        helper.make_node("ArgMax", ["x"], ["best"], select_last_index=1, name="argmax"),
    ]
    outputs = [_float("values", [None]), helper.make_tensor_value_info("indices", TensorProto.INT64, [None]),
               helper.make_tensor_value_info("best", TensorProto.INT64, [1])]
    report = tensorrt_compatibility_report(_model(nodes, [_float("x", [8]), k_input], outputs))
    errors = "\n".join(report["errors"])
    assert "constant K" in errors and "select_last_index" in errors


def test_int64_data_fails_but_int64_shapes_pass():
    shape_nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Reshape", ["x", "shape"], ["y"]),
    ]
    ok = _model(shape_nodes, [_float("x", [2, 3])], [_float("y", [2, 3])])
    assert tensorrt_compatibility_report(ok)["compatible"]
    data_nodes = [helper.make_node("Add", ["ids", "ids"], ["doubled"])]
    ids = helper.make_tensor_value_info("ids", TensorProto.INT64, [4])
    doubled = helper.make_tensor_value_info("doubled", TensorProto.INT64, [4])
    report = tensorrt_compatibility_report(_model(data_nodes, [ids], [doubled]))
    assert set(report["int64"]["data"]) == {"ids", "doubled"}
    assert any("INT64 tensor 'ids' carries data" in error for error in report["errors"])


def test_opset_outside_the_parser_range_fails():
    relu = helper.make_node("Relu", ["x"], ["y"])
    too_new = _model([relu], [_float("x", [2])], [_float("y", [2])], opset=23)
    report = tensorrt_compatibility_report(too_new, target="10")
    assert any("opset 23" in error for error in report["errors"])
    assert tensorrt_compatibility_report(too_new, target="10.15")["compatible"]
    with pytest.raises(TensorRTCompatibilityError, match="unknown TensorRT target"):
        tensorrt_compatibility_report(too_new, target="7")


def test_unsupported_types_and_quantization_zero_points():
    scale = helper.make_tensor("scale", TensorProto.FLOAT, [], [0.1])
    zero = helper.make_tensor("zero", TensorProto.INT8, [], [3])
    node = helper.make_node("QuantizeLinear", ["x", "scale", "zero"], ["q"], name="quantize")
    q = helper.make_tensor_value_info("q", TensorProto.INT8, [2])
    report = tensorrt_compatibility_report(_model([node], [_float("x", [2])], [q], [scale, zero]))
    assert any("zero point" in error for error in report["errors"])
    strings = helper.make_tensor_value_info("s", TensorProto.STRING, [1])
    identity = helper.make_node("Identity", ["s"], ["t"])
    t = helper.make_tensor_value_info("t", TensorProto.STRING, [1])
    report = tensorrt_compatibility_report(_model([identity], [strings], [t]))
    assert any("STRING" in error for error in report["errors"])


def test_operator_table_records_its_source():
    table = supported_operator_table()
    assert "onnx-tensorrt" in table["source"] and "operators.md" in table["source"]
    assert {"LayerNormalization", "Softmax", "MatMul", "Resize", "DequantizeLinear"} <= set(table["supported"])
    assert {"MatMulInteger", "DynamicQuantizeLinear", "ConvInteger"} <= set(table["unsupported"])
    assert not set(table["supported"]) & set(table["unsupported"])
    assert np.all([table["targets"][t]["opset_min"] == 9 for t in table["targets"]])
