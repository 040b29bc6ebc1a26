"""Structural checks on exported ONNX graphs.

``check_no_index_building`` enforces the promise that BEiT's relative position bias (and any
position interpolation) is not built at run time with scatter/gather-ND/resize ops: in the shipped
classification, backbone and masked-image-modeling graphs none of these ops appear at all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

import onnx

from ..errors import GraphCheckError

INDEX_BUILDING_OPS = frozenset({"ScatterND", "ScatterElements", "Scatter", "GatherND", "Resize"})


def _subgraphs(node: onnx.NodeProto) -> Iterator[onnx.GraphProto]:
    for attribute in node.attribute:
        if attribute.type == onnx.AttributeProto.GRAPH:
            yield attribute.g
        elif attribute.type == onnx.AttributeProto.GRAPHS:
            yield from attribute.graphs


def _walk_nodes(nodes: Iterable[onnx.NodeProto]) -> Iterator[onnx.NodeProto]:
    for node in nodes:
        yield node
        for graph in _subgraphs(node):
            yield from _walk_nodes(graph.node)


def iter_nodes(model: onnx.ModelProto) -> Iterator[onnx.NodeProto]:
    """Every node of the main graph, its subgraphs (If/Loop/Scan bodies) and local functions."""
    yield from _walk_nodes(model.graph.node)
    for function in model.functions:
        yield from _walk_nodes(function.node)


def _op_name(node: onnx.NodeProto) -> str:
    return node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"


def op_histogram(model: onnx.ModelProto) -> Counter:
    """How many nodes of each op type the model holds ("domain.Op" for non-default domains)."""
    return Counter(_op_name(node) for node in iter_nodes(model))


def check_no_index_building(model: onnx.ModelProto, *, forbidden: Iterable[str] = INDEX_BUILDING_OPS) -> None:
    """Raise GraphCheckError when the graph contains ScatterND/ScatterElements/Scatter/GatherND/Resize."""
    forbidden = set(forbidden)
    found = Counter(node.op_type for node in iter_nodes(model) if node.op_type in forbidden)
    if found:
        listing = ", ".join(f"{count} {op}" for op, count in sorted(found.items()))
        examples = [node.name for node in iter_nodes(model) if node.op_type in forbidden][:5]
        raise GraphCheckError(
            f"the exported graph builds indices at run time: {listing} (e.g. nodes {examples}); expected none "
            f"of {', '.join(sorted(forbidden))}. Export through beit_export.modeling.make_export_module, which "
            "replaces the relative position bias and position interpolation with constant or arithmetic indices."
        )


def check_layer_norm_fused(model: onnx.ModelProto, *, expected: int | None = None) -> None:
    """Raise GraphCheckError unless LayerNorms are single LayerNormalization nodes (opset >= 17).

    ``expected``: how many the source module has (e.g. ``count_layer_norms(module)``); default 1+.
    """
    count = op_histogram(model).get("LayerNormalization", 0)
    minimum = 1 if expected is None else expected
    if count < minimum:
        raise GraphCheckError(
            f"the graph has {count} LayerNormalization nodes, expected {minimum}: some LayerNorms were "
            "decomposed into ReduceMean/Sub/Pow/Sqrt. Export with opset >= 17 through the dynamo exporter."
        )


def graph_summary(path) -> str:
    """One line for the manifest: node count and the eight most common ops of the graph at ``path``."""
    ops = op_histogram(onnx.load(str(path), load_external_data=False))
    top = ", ".join(f"{name} {count}" for name, count in ops.most_common(8))
    return f"{sum(ops.values())} nodes ({top})"
