"""Load and save ONNX graphs the same way everywhere: external data in, external data out when large."""

from __future__ import annotations

from pathlib import Path

import onnx

from ..errors import ExportError

# protobuf refuses messages of 2 GiB; leave headroom for the graph itself
EXTERNAL_DATA_THRESHOLD_BYTES = 1_800_000_000


def load_graph(src: str | Path | onnx.ModelProto) -> onnx.ModelProto:
    """A ModelProto with its external data (if any) loaded into memory."""
    if isinstance(src, onnx.ModelProto):
        return src
    path = Path(src)
    if not path.is_file():
        raise ExportError(f"ONNX graph {path} does not exist; export the fp32 graph first")
    try:
        return onnx.load(str(path), load_external_data=True)
    except Exception as error:  # onnx raises DecodeError/OSError/ValidationError variants
        raise ExportError(f"could not read ONNX graph {path}: {error}") from error


def topologically_sorted(model: onnx.ModelProto) -> onnx.ModelProto:
    """Reorder ``model.graph.node`` so every node comes after the producers of its inputs (in place)."""
    graph = model.graph
    available = {v.name for v in graph.input} | {init.name for init in graph.initializer} | {""}
    pending = list(graph.node)
    ordered: list[onnx.NodeProto] = []
    while pending:
        ready = [node for node in pending if all(name in available for name in node.input)]
        if not ready:
            names = ", ".join(node.name or node.op_type for node in pending[:5])
            raise ExportError(f"graph has a cycle or an undefined input near nodes {names}")
        ready_ids = {id(node) for node in ready}
        pending = [node for node in pending if id(node) not in ready_ids]
        for node in ready:
            available.update(node.output)
        ordered.extend(ready)
    copies = [onnx.NodeProto.FromString(node.SerializeToString()) for node in ordered]
    del graph.node[:]
    graph.node.extend(copies)
    return model


def refresh_value_info(model: onnx.ModelProto) -> onnx.ModelProto:
    """Drop stale ``value_info`` (types of intermediate tensors) and infer it again, in place.

    Graph rewrites such as fp16 conversion can leave value_info that disagrees with the nodes;
    shape inference then refuses the graph. Without value_info the graph is still valid.
    """
    del model.graph.value_info[:]
    if model.ByteSize() < EXTERNAL_DATA_THRESHOLD_BYTES:
        inferred = onnx.shape_inference.infer_shapes(model)
        model.graph.value_info.extend(inferred.graph.value_info)
    return model


def inferred_types(model: onnx.ModelProto) -> dict[str, int]:
    """Element type of every tensor name (inputs, outputs, intermediates, initializers) after inference."""
    bare = onnx.ModelProto()
    bare.CopyFrom(model)
    initializers = {init.name for init in bare.graph.initializer}
    kept = [v for v in bare.graph.value_info if v.name not in initializers]
    del bare.graph.value_info[:]
    bare.graph.value_info.extend(kept)
    try:
        graph = onnx.shape_inference.infer_shapes(bare, data_prop=True).graph
    except onnx.shape_inference.InferenceError:
        graph = refresh_value_info(bare).graph
    types = {v.name: v.type.tensor_type.elem_type for v in [*graph.value_info, *graph.input, *graph.output]}
    types.update({init.name: init.data_type for init in graph.initializer})
    return types


def save_graph(model: onnx.ModelProto, dst: str | Path) -> list[str]:
    """Save ``model`` to ``dst``; weights go to ``<dst>.data`` beside it when the graph is large.

    Returns the names of the external data files written (empty for a self-contained graph).
    """
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    external = model.ByteSize() > EXTERNAL_DATA_THRESHOLD_BYTES
    data_name = dst.name + ".data"
    if (dst.parent / data_name).exists():
        (dst.parent / data_name).unlink()
    onnx.save_model(
        model,
        str(dst),
        save_as_external_data=external,
        all_tensors_to_one_file=True,
        location=data_name,
        size_threshold=1024,
    )
    onnx.checker.check_model(str(dst))
    return [data_name] if external else []
