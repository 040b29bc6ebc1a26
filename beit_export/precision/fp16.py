"""fp16 ONNX graphs whose numerically sensitive parts stay fp32.

The conversion itself is ONNX Runtime's maintained converter (``onnxruntime.transformers.float16``,
shipped inside onnxruntime, so no extra dependency); this module decides what it must leave in fp32:

* op types: LayerNormalization (BEiT's eps is 1e-12, below fp16's range), Softmax, the pieces of
  decomposed norms (ReduceMean, Pow, Sqrt, Reciprocal, and a Div by a Sqrt), plus the converter's
  own default block list (Range, TopK, CumSum, Min/Max, ...);
* activation adds: an Add of two computed tensors (the residual stream, and the relative position
  bias added to the attention scores), and the layer-scale Mul (activation x constant) feeding one;
* shape arithmetic: float nodes that depend on no input *values* (only on shapes and constants),
  such as the interpolation weights computed from a dynamic height/width; fp16 would round them.

Inputs and outputs keep their fp32 types (``keep_io_types``), so callers feed the same arrays.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import onnx
from onnxruntime.transformers import float16 as ort_float16

from ..errors import ExportError
from ..graph import load_graph, refresh_value_info, save_graph, topologically_sorted

FP32_OP_TYPES = ("LayerNormalization", "Softmax", "ReduceMean", "Pow", "Sqrt", "Reciprocal")
_SHAPE_ONLY_OPS = {"Shape", "Size"}


def _ensure_node_names(graph: onnx.GraphProto) -> None:
    """Give every node a unique name: the converter's node block list works by name."""
    seen: set[str] = set()
    for index, node in enumerate(graph.node):
        if not node.name or node.name in seen:
            node.name = f"{node.op_type}_fp16_{index}"
            while node.name in seen:
                node.name += "_"
        seen.add(node.name)


def _constant_names(graph: onnx.GraphProto) -> set[str]:
    names = {init.name for init in graph.initializer}
    names.update(out for node in graph.node if node.op_type == "Constant" for out in node.output)
    return names


def _data_dependent(graph: onnx.GraphProto) -> set[str]:
    """Tensor names whose values depend on graph input values (Shape/Size break the dependence)."""
    dependent = {inp.name for inp in graph.input}
    for node in graph.node:  # ONNX graphs are topologically sorted
        if node.op_type in _SHAPE_ONLY_OPS:
            continue
        if any(name in dependent for name in node.input if name):
            dependent.update(node.output)
    return dependent


def _producers(graph: onnx.GraphProto) -> dict[str, onnx.NodeProto]:
    return {out: node for node in graph.node for out in node.output}


def _consumers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    result: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            result.setdefault(name, []).append(node)
    return result


def _float_outputs(model: onnx.ModelProto) -> set[str]:
    inferred = onnx.shape_inference.infer_shapes(model, data_prop=False)
    graph = inferred.graph
    values = list(graph.value_info) + list(graph.output) + list(graph.input)
    return {v.name for v in values if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT}


def choose_fp32_nodes(model: onnx.ModelProto) -> dict[str, str]:
    """Map node name -> the rule that keeps it fp32 (besides whole op types in ``FP32_OP_TYPES``)."""
    graph = model.graph
    constants = _constant_names(graph)
    dependent = _data_dependent(graph)
    producers, consumers = _producers(graph), _consumers(graph)
    floats = _float_outputs(model)
    chosen: dict[str, str] = {}
    for node in graph.node:
        activations = [n for n in node.input if n and n not in constants]
        if node.op_type == "Add" and len(activations) == 2 and any(n in dependent for n in activations):
            chosen[node.name] = "activation-add"
        elif (node.op_type == "Div" and len(node.input) > 1
              and getattr(producers.get(node.input[1]), "op_type", "") == "Sqrt"):
            chosen[node.name] = "norm-division"
        elif node.op_type not in ("Constant",) and any(o in floats for o in node.output) and not any(
            o in dependent for o in node.output
        ):
            chosen[node.name] = "constant-or-shape-arithmetic"
    for node in graph.node:
        feeds_residual = any(chosen.get(c.name) == "activation-add" for c in consumers.get(node.output[0], []))
        if node.op_type == "Mul" and feeds_residual and any(n in constants for n in node.input):
            chosen[node.name] = "layer-scale"
    return chosen


def _drop_duplicate_casts(graph: onnx.GraphProto) -> None:
    """Remove repeated identical Cast nodes the converter emits for an initializer shared by several
    fp32 nodes (random-init checkpoints share their all-ones LayerNorm weights, for instance)."""
    seen: dict[str, onnx.NodeProto] = {}
    keep = []
    for node in graph.node:
        first = next((seen[out] for out in node.output if out in seen), None)
        if first is None:
            seen.update(dict.fromkeys(node.output, node))
            keep.append(node)
        elif not (node.op_type == first.op_type == "Cast" and node.input == first.input
                  and node.attribute == first.attribute):
            raise ExportError(f"fp16 conversion produced two different nodes writing {list(node.output)}")
    del graph.node[:]
    graph.node.extend(keep)


def _skip_fp16_round_trips(graph: onnx.GraphProto) -> int:
    """Make each ``Cast(to=float16) -> Cast(to=float)`` pair one Cast from the original tensor.

    The converter inserts such a pair where one fp32 node feeds another (between two kept nodes it still
    routes the tensor through fp16). The trip rounds: integers above 2048 as well, so the shape arithmetic of a
    ``--dynamic-resolution`` graph (the bias table's size, the interpolation ranges) went wrong past about
    2,000 tokens and the Gather of the bias read out of bounds. Returns the number of pairs bypassed.
    """
    to_half = {node.output[0]: node for node in graph.node
               if node.op_type == "Cast" and _cast_target(node) == onnx.TensorProto.FLOAT16}
    bypassed = 0
    for node in graph.node:
        source = to_half.get(node.input[0]) if node.op_type == "Cast" and node.input else None
        if source is not None and _cast_target(node) == onnx.TensorProto.FLOAT:
            node.input[0] = source.input[0]
            bypassed += 1
    still_read = {name for node in graph.node for name in node.input} | {out.name for out in graph.output}
    unused = [node for node in to_half.values() if node.output[0] not in still_read]
    for node in unused:
        graph.node.remove(node)
    return bypassed


def _cast_target(node: onnx.NodeProto) -> int | None:
    return next((attribute.i for attribute in node.attribute if attribute.name == "to"), None)


def _split_shared_initializers(graph: onnx.GraphProto, blocked: set[str]) -> int:
    """Give fp32 (blocked) nodes their own copy of float initializers that fp16 nodes also read.

    Otherwise the converter stores the weight in fp16 and casts it back for the fp32 nodes,
    rounding e.g. LayerNorm weights. Returns the number of copies made.
    """
    floats = {init.name: init for init in graph.initializer if init.data_type == onnx.TensorProto.FLOAT}
    readers: dict[str, set[bool]] = {}
    for node in graph.node:
        for name in node.input:
            if name in floats:
                readers.setdefault(name, set()).add(node.name in blocked)
    shared = {name for name, kinds in readers.items() if kinds == {True, False}}
    for name in sorted(shared):
        copy = onnx.TensorProto()
        copy.CopyFrom(floats[name])
        copy.name = f"{name}__fp32"
        graph.initializer.append(copy)
    for node in graph.node:
        if node.name in blocked:
            for index, name in enumerate(node.input):
                if name in shared:
                    node.input[index] = f"{name}__fp32"
    return len(shared)


def convert_model_to_fp16(model: onnx.ModelProto) -> tuple[onnx.ModelProto, dict]:
    """In-memory conversion; returns the fp16 model and the report of what stayed fp32."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    _ensure_node_names(model.graph)
    chosen = choose_fp32_nodes(model)
    op_block_list = sorted(set(ort_float16.DEFAULT_OP_BLOCK_LIST) | set(FP32_OP_TYPES))
    blocked = set(chosen) | {node.name for node in model.graph.node if node.op_type in op_block_list}
    _split_shared_initializers(model.graph, blocked)
    converted = ort_float16.convert_float_to_float16(
        model,
        keep_io_types=True,
        op_block_list=op_block_list,
        node_block_list=sorted(chosen),
    )
    _drop_duplicate_casts(converted.graph)
    _skip_fp16_round_trips(converted.graph)
    refresh_value_info(topologically_sorted(converted))
    return converted, _report(model, converted, chosen, op_block_list)


def _report(original: onnx.ModelProto, converted: onnx.ModelProto, chosen: dict[str, str], op_block_list) -> dict:
    present = Counter(node.op_type for node in original.graph.node)
    kept_types = {op: present[op] for op in op_block_list if present[op]}
    by_rule = Counter(chosen.values())
    casts_before = present["Cast"]
    casts_after = sum(1 for node in converted.graph.node if node.op_type == "Cast")
    return {
        "precision": "fp16",
        "io_types": "float32",
        "converter": "onnxruntime.transformers.float16",
        "fp32_op_types": kept_types,
        "fp32_nodes_by_rule": dict(sorted(by_rule.items())),
        "fp32_nodes": sorted(chosen),
        "casts_inserted": casts_after - casts_before,
        "nodes": len(converted.graph.node),
    }


def convert_to_fp16(src: str | Path, dst: str | Path) -> dict:
    """Write an fp16 copy of the graph at ``src`` to ``dst`` (fp32 inputs/outputs); report what stayed fp32."""
    model = load_graph(src)
    converted, report = convert_model_to_fp16(model)
    report["external_data"] = save_graph(converted, dst)
    report["notes"] = notes_from_report(report)
    return report


def notes_from_report(report: dict) -> str:
    ops = ", ".join(sorted(report["fp32_op_types"])) or "none"
    rules = ", ".join(f"{count} {rule}" for rule, count in report["fp32_nodes_by_rule"].items()) or "none"
    return f"fp16 weights and matmuls; fp32 inputs/outputs; kept fp32: op types {ops}; nodes: {rules}"
