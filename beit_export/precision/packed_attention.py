"""One projection GEMM per attention block: MultiHeadAttention over three q/k/v MatMuls of one input
becomes ONNX Runtime's com.microsoft.Attention with the three weights packed into one [C, 3C] matrix.

    MultiHeadAttention(MatMul(x, Wq), MatMul(x, Wk), MatMul(x, Wv), bias, '', attention_bias)
      -> Attention(x, [Wq | Wk | Wv], bias, '', '', attention_bias; num_heads, scale)

Attention adds the packed bias and splits the heads itself, so a block launches one projection GEMM
instead of three. Same function; the GPU benchmark (``benchmarks/gpu``) measures whether it pays.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .attention_pattern import MS_DOMAIN, GraphIndex
from .linear_folding import linear_layer


def _projection(g: GraphIndex, name: str) -> tuple[onnx.NodeProto, np.ndarray] | None:
    """``name`` = MatMul(x, W), read only by the attention, W a constant float32 matrix -> (matmul, W)."""
    linear = linear_layer(g, name) if g.private(name) else None
    return None if linear is None or linear.add is not None else (linear.matmul, linear.weight)


def _packed_node(g: GraphIndex, mha: onnx.NodeProto, number: int) -> tuple[onnx.NodeProto, list] | None:
    projections = [_projection(g, name) for name in mha.input[:3]]
    if any(p is None for p in projections):
        return None
    matmuls = [p[0] for p in projections if p is not None]
    weights = [p[1] for p in projections if p is not None]
    if len({m.input[0] for m in matmuls}) != 1 or len({w.shape for w in weights}) != 1:
        return None  # not self-attention over one input, or q/k/v widths differ
    packed = numpy_helper.from_array(np.concatenate(weights, axis=1), f"packed_attention_{number}.qkv_weight")
    bias = mha.input[3] if len(mha.input) > 3 else ""
    if not bias:
        bias = f"packed_attention_{number}.qkv_bias"
        g.graph.initializer.append(numpy_helper.from_array(np.zeros(3 * weights[0].shape[1], np.float32), bias))
    g.graph.initializer.append(packed)
    attributes = {a.name: helper.get_attribute_value(a) for a in mha.attribute if a.name in ("num_heads", "scale")}
    node = helper.make_node("Attention", [matmuls[0].input[0], packed.name, bias, "", "", mha.input[5]],
                            list(mha.output), name=f"packed_attention_{number}", domain=MS_DOMAIN, **attributes)
    return node, [mha, *matmuls]


def pack_attention(model: onnx.ModelProto) -> int:
    """Rewrite every MultiHeadAttention whose q/k/v are MatMuls of one input as one Attention node, in
    place (the unpacked weights are left for the caller's dead-code pass); returns how many."""
    g = GraphIndex(model.graph)
    replaced: dict[int, onnx.NodeProto | None] = {}
    for mha in [n for n in model.graph.node if n.op_type == "MultiHeadAttention" and n.domain == MS_DOMAIN]:
        packed = _packed_node(g, mha, len(replaced))
        if packed is None:
            continue
        node, old = packed
        replaced[id(mha)] = node  # the Attention node takes the MultiHeadAttention's place in the order
        replaced.update((id(m), None) for m in old[1:])
    nodes = [replaced.get(id(n), n) for n in model.graph.node]
    model.graph.ClearField("node")
    model.graph.node.extend(n for n in nodes if n is not None)
    return sum(1 for n in replaced.values() if n is not None)
