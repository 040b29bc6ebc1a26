"""The per-node rules behind ``beit_export.tensorrt.compat``: attributes, INT64 usage and tensor types."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from ..graph import inferred_types

RESIZE_COORDINATE_MODES = {"half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn", "asymmetric", "align_corners"}
RESIZE_MODES = {"nearest", "linear"}
RESIZE_NEAREST_MODES = {"floor", "ceil", "round_prefer_floor", "round_prefer_ceil"}
TOPK_MAX_K = 3840
# (op, input index) pairs whose value is a shape, an axis list, a size or an index into a shape
SHAPE_SLOTS = {
    ("Reshape", 1), ("Expand", 1), ("Slice", 1), ("Slice", 2), ("Slice", 3), ("Slice", 4),
    ("Range", 0), ("Range", 1), ("Range", 2), ("ConstantOfShape", 0), ("Tile", 1), ("Resize", 3),
    ("Squeeze", 1), ("Unsqueeze", 1), ("Pad", 1), ("TopK", 1), ("OneHot", 1), ("Split", 1),
    ("ReduceMean", 1), ("ReduceSum", 1), ("ReduceMax", 1), ("ReduceMin", 1), ("ReduceProd", 1),
    ("CumSum", 1), ("Trilu", 1),
}
# ops that pass a shape computation through (their int64 outputs are shape computations too)
SHAPE_ARITHMETIC = {"Concat", "Gather", "Cast", "Slice", "Squeeze", "Unsqueeze", "Add", "Sub", "Mul", "Div",
                    "Max", "Min", "Identity", "ReduceProd", "Mod", "Neg", "Equal", "Where", "Reshape", "Range"}
INDEX_PRODUCERS = {"ArgMax", "ArgMin", "TopK"}
TENSORRT_TYPES = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.INT32, TensorProto.INT64,
                  TensorProto.INT8, TensorProto.UINT8, TensorProto.BOOL, TensorProto.DOUBLE,
                  TensorProto.FLOAT8E4M3FN, TensorProto.INT4}


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and _attrs(node).get("value") is not None:
            values[node.output[0]] = numpy_helper.to_array(_attrs(node)["value"])
    return values


def _resize_errors(node, attrs) -> list[str]:
    errors = []
    mode = _text(attrs.get("mode", "nearest"))
    coordinate = _text(attrs.get("coordinate_transformation_mode", "half_pixel"))
    if mode not in RESIZE_MODES:
        errors.append(f"Resize '{node.name}' uses mode '{mode}'; TensorRT supports {sorted(RESIZE_MODES)}")
    if coordinate not in RESIZE_COORDINATE_MODES:
        errors.append(f"Resize '{node.name}' uses coordinate_transformation_mode '{coordinate}'; "
                      f"TensorRT supports {sorted(RESIZE_COORDINATE_MODES)}")
    if mode == "nearest" and _text(attrs.get("nearest_mode", "round_prefer_floor")) not in RESIZE_NEAREST_MODES:
        errors.append(f"Resize '{node.name}' uses an unsupported nearest_mode")
    if attrs.get("antialias", 0):
        errors.append(f"Resize '{node.name}' uses antialias; TensorRT does not support antialiasing")
    if _text(attrs.get("keep_aspect_ratio_policy", "stretch")) != "stretch":
        errors.append(f"Resize '{node.name}' uses keep_aspect_ratio_policy other than 'stretch'")
    return errors


def _node_errors(node: onnx.NodeProto, constants: dict, used: set[str]) -> list[str]:
    attrs, op, name = _attrs(node), node.op_type, node.name or node.op_type
    if op == "Resize":
        return _resize_errors(node, attrs)
    if op in ("ArgMax", "ArgMin") and attrs.get("select_last_index", 0):
        return [f"{op} '{name}' sets select_last_index=1; TensorRT supports only the first index"]
    if op == "TopK":
        k = constants.get(node.input[1]) if len(node.input) > 1 else None
        if not attrs.get("sorted", 1):
            return [f"TopK '{name}' has sorted=0; TensorRT needs sorted=1"]
        if k is None or int(np.max(k)) >= TOPK_MAX_K:
            return [f"TopK '{name}' needs a constant K below {TOPK_MAX_K}"]
    if op == "LayerNormalization" and any(out in used for out in node.output[1:]):
        return [f"LayerNormalization '{name}' uses Mean/InvStdDev outputs; TensorRT supports only Y"]
    if op in ("QuantizeLinear", "DequantizeLinear") and len(node.input) > 2 and node.input[2]:
        zero_point = constants.get(node.input[2])
        if zero_point is None or np.any(zero_point != 0):
            return [f"{op} '{name}' has a non-zero (or non-constant) zero point; TensorRT needs symmetric quantization"]
    if op in ("AveragePool", "MaxPool"):
        if len(attrs.get("kernel_shape", [])) not in (2, 3) or any(d != 1 for d in attrs.get("dilations", [])):
            return [f"{op} '{name}' must be 2D or 3D pooling with unit dilations for TensorRT"]
        if op == "MaxPool" and len(node.output) > 1 and node.output[1] in used:
            return [f"MaxPool '{name}' uses the Indices output, which TensorRT does not support"]
    if op == "ScatterND" and _text(attrs.get("reduction", "none")) != "none":
        return [f"ScatterND '{name}' uses reduction; TensorRT supports only 'none'"]
    if op == "Constant" and any(key in attrs for key in ("sparse_value", "value_string", "value_strings")):
        return [f"Constant '{name}' holds a sparse or string value, which TensorRT does not support"]
    axes = node.input[1] if len(node.input) > 1 else ""
    if (op.startswith("Reduce") or op == "CumSum") and axes and axes not in constants:
        return [f"{op} '{name}' needs constant axes (an initializer) for TensorRT"]
    if op == "Dropout" and len(node.input) > 2 and node.input[2]:
        training = constants.get(node.input[2])
        if training is None or bool(np.any(training)):
            return [f"Dropout '{name}' needs training_mode to be a constant False"]
    return []


def attribute_errors(model: onnx.ModelProto) -> list[str]:
    graph = model.graph
    constants = _constants(graph)
    used = {name for node in graph.node for name in node.input} | {out.name for out in graph.output}
    return [error for node in graph.node for error in _node_errors(node, constants, used)]


def _typed_values(model: onnx.ModelProto) -> dict[str, int]:
    types = inferred_types(model)
    for node in model.graph.node:
        if node.op_type == "Constant" and node.output and node.output[0] not in types:
            value = _attrs(node).get("value")
            if value is not None:
                types[node.output[0]] = value.data_type
    return types


def _value_dependent(graph: onnx.GraphProto) -> set[str]:
    """Tensors whose values depend on graph input values; Shape/Size outputs do not."""
    dependent = {inp.name for inp in graph.input}
    for node in graph.node:
        if node.op_type not in ("Shape", "Size") and any(n in dependent for n in node.input if n):
            dependent.update(node.output)
    return dependent


def _consumers(graph: onnx.GraphProto) -> dict[str, list[tuple[onnx.NodeProto, int]]]:
    result: dict[str, list[tuple[onnx.NodeProto, int]]] = {}
    for node in graph.node:
        for index, name in enumerate(node.input):
            result.setdefault(name, []).append((node, index))
    return result


def _used_as_shape(name: str, consumers, types, seen: set[str]) -> bool:
    """True when every use of ``name`` ends in a shape slot (through shape arithmetic)."""
    if name in seen:
        return True
    seen.add(name)
    uses = consumers.get(name, [])
    if not uses:
        return False
    for node, index in uses:
        if (node.op_type, index) in SHAPE_SLOTS or (node.op_type == "Gather" and index == 1):
            continue
        if node.op_type in SHAPE_ARITHMETIC and all(
            types.get(out) not in (TensorProto.FLOAT, TensorProto.FLOAT16)
            and _used_as_shape(out, consumers, types, seen)
            for out in node.output
        ):
            continue
        return False
    return True


def classify_int64(model: onnx.ModelProto) -> dict[str, list[str]]:
    """INT64 tensors sorted into shape computations, index outputs cast down, and data (the failures)."""
    graph = model.graph
    types = _typed_values(model)
    dependent = _value_dependent(graph)
    consumers = _consumers(graph)
    producers = {out: node for node in graph.node for out in node.output}
    result: dict[str, list[str]] = {"shape_computation": [], "index_output": [], "data": []}
    graph_outputs = {out.name for out in graph.output}
    for name, elem_type in sorted(types.items()):
        if elem_type != TensorProto.INT64 or not name:
            continue
        producer = producers.get(name)
        casts_down = [n for n, _ in consumers.get(name, [])]
        index_producer = producer is not None and producer.op_type in INDEX_PRODUCERS
        if index_producer and name not in graph_outputs and casts_down and all(
            n.op_type == "Cast" and _attrs(n).get("to") == TensorProto.INT32 for n in casts_down
        ):
            result["index_output"].append(name)
        elif name not in graph_outputs and (name not in dependent or _used_as_shape(name, consumers, types, set())):
            result["shape_computation"].append(name)
        else:
            result["data"].append(name)
    return result


def dtype_findings(model: onnx.ModelProto) -> tuple[list[str], list[str]]:
    """(errors, warnings) about tensor element types TensorRT lacks or casts down."""
    errors, warnings = [], []
    for name, elem_type in sorted(_typed_values(model).items()):
        if elem_type == TensorProto.UNDEFINED:
            continue
        type_name = TensorProto.DataType.Name(elem_type)
        if elem_type not in TENSORRT_TYPES:
            errors.append(f"tensor '{name}' has type {type_name}, which TensorRT does not support")
        elif elem_type == TensorProto.DOUBLE:
            warnings.append(f"tensor '{name}' is DOUBLE; TensorRT casts it down to FLOAT")
    return errors, warnings
