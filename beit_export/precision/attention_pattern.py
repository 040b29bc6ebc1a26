"""Find BEiT/ViT self-attention blocks in an exported graph, as the dynamo exporter writes them.

Matched subgraph, per layer:

    q = Transpose[0,2,1,3](Reshape(q_lin, [-1, N, H, D]))
    k = Transpose[0,2,3,1](Reshape(k_lin, [-1, N, H, D]))
    v = Transpose[0,2,1,3](Reshape(v_lin, [-1, N, H, D]))
    p = Softmax(Add(Mul(MatMul(q, k), scale), attention_bias), axis=-1)
    out = Reshape(Transpose[0,2,1,3](MatMul(p, v)), [-1, N, H*D])

``match_attention`` returns an ``AttentionBlock`` (the projections q_lin/k_lin/v_lin, the head count,
the scale, the bias tensor, the block's output and the nodes it replaces) or None. ``drop_zero_mask``
removes transformers' all-zero SDPA mask (``Where(<all True>, 0, x)``) from the bias.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

MS_DOMAIN = "com.microsoft"  # ONNX Runtime's contrib ops (MultiHeadAttention, Attention)


@dataclass
class AttentionBlock:
    q: str
    k: str
    v: str
    num_heads: int
    scale: float
    bias: str
    output: str
    nodes: list[onnx.NodeProto]


class GraphIndex:
    """Producer/consumer maps and constant lookup over one onnx.GraphProto."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        self.graph = graph
        self.inits = {t.name: t for t in graph.initializer}
        self.producer = {o: n for n in graph.node for o in n.output}
        self.consumers: dict[str, list[onnx.NodeProto]] = collections.defaultdict(list)
        for node in graph.node:
            for name in node.input:
                self.consumers[name].append(node)
        self.outputs = {o.name for o in graph.output}
        self.dims = {
            v.name: [d.dim_value if d.HasField("dim_value") else -1 for d in v.type.tensor_type.shape.dim]
            for v in [*graph.value_info, *graph.output] if v.type.tensor_type.HasField("shape")
        }

    def const(self, name: str) -> np.ndarray | None:
        if name in self.inits:
            return numpy_helper.to_array(self.inits[name])
        node = self.producer.get(name)
        if node is not None and node.op_type == "Constant" and node.attribute[0].name == "value":
            return numpy_helper.to_array(node.attribute[0].t)
        return None

    def node_of(self, name: str, op_type: str) -> onnx.NodeProto | None:
        node = self.producer.get(name)
        return node if node is not None and node.op_type == op_type else None

    def private(self, name: str) -> bool:
        """True when ``name`` has exactly one consumer and is no graph output (its producer may go)."""
        return len(self.consumers[name]) == 1 and name not in self.outputs

    def reshaped_dims(self, reshape: onnx.NodeProto) -> list[int] | None:
        """Static target sizes of a Reshape (-1 where unknown): its constant shape, else its value_info."""
        shape = self.const(reshape.input[1])
        recorded = self.dims.get(reshape.output[0])
        if shape is None:
            return recorded
        sizes = [int(v) for v in shape]
        if recorded is not None and len(recorded) == len(sizes):
            sizes = [r if s <= 0 < r else s for s, r in zip(sizes, recorded, strict=True)]
        return sizes


def _perm(node: onnx.NodeProto) -> list[int]:
    return next((list(a.ints) for a in node.attribute if a.name == "perm"), [])


def _axis(node: onnx.NodeProto, default: int) -> int:
    return next((a.i for a in node.attribute if a.name == "axis"), default)


def _heads_branch(g: GraphIndex, name: str, perm: list[int]) -> tuple[str, int, int, list] | None:
    """Transpose[perm](Reshape(x, [.., N, H, D])) -> (x, H, D, [nodes]) or None."""
    transpose = g.node_of(name, "Transpose")
    if transpose is None or _perm(transpose) != perm or not g.private(name):
        return None
    reshape = g.node_of(transpose.input[0], "Reshape")
    if reshape is None or not g.private(transpose.input[0]):
        return None
    shape = g.reshaped_dims(reshape)
    if shape is None or len(shape) != 4 or shape[2] <= 0 or shape[3] <= 0:
        return None
    return reshape.input[0], int(shape[2]), int(shape[3]), [transpose, reshape]


def _scaled_scores(g: GraphIndex, add: onnx.NodeProto) -> tuple[onnx.NodeProto, float, str, list] | None:
    """Add(Mul(MatMul(q, k), scale), bias) in either operand order -> (matmul, scale, bias, [mul, matmul])."""
    for scores, bias in ((add.input[0], add.input[1]), (add.input[1], add.input[0])):
        mul = g.node_of(scores, "Mul")
        if mul is None or not g.private(scores):
            continue
        for product, factor in ((mul.input[0], mul.input[1]), (mul.input[1], mul.input[0])):
            matmul, scale = g.node_of(product, "MatMul"), g.const(factor)
            if matmul is not None and scale is not None and scale.size == 1 and g.private(product):
                return matmul, float(scale.reshape(())), bias, [mul, matmul]
    return None


def _merge_heads(g: GraphIndex, name: str) -> tuple[int, list] | None:
    """Reshape(Transpose[0,2,1,3](x), [.., N, H*D]) -> (H*D, [transpose, reshape]) or None."""
    users = g.consumers[name]
    if len(users) != 1 or users[0].op_type != "Transpose" or _perm(users[0]) != [0, 2, 1, 3] or name in g.outputs:
        return None
    after = g.consumers[users[0].output[0]]
    if len(after) != 1 or after[0].op_type != "Reshape" or users[0].output[0] in g.outputs:
        return None
    shape = g.reshaped_dims(after[0])
    if shape is None or len(shape) != 3 or shape[2] <= 0:
        return None
    return int(shape[2]), [users[0], after[0]]


def match_attention(g: GraphIndex, softmax: onnx.NodeProto) -> AttentionBlock | None:
    """The attention block around ``softmax``, or None when it is not the expected pattern."""
    add = g.node_of(softmax.input[0], "Add")
    if _axis(softmax, -1) not in (-1, 3) or add is None or not g.private(softmax.input[0]):
        return None
    scores = _scaled_scores(g, add)
    if scores is None:
        return None
    qk, scale, bias, score_nodes = scores
    q, k = _heads_branch(g, qk.input[0], [0, 2, 1, 3]), _heads_branch(g, qk.input[1], [0, 2, 3, 1])
    users = g.consumers[softmax.output[0]]
    probabilities_used_once = len(users) == 1 and users[0].op_type == "MatMul"
    if q is None or k is None or not probabilities_used_once or users[0].input[0] != softmax.output[0]:
        return None
    v = _heads_branch(g, users[0].input[1], [0, 2, 1, 3])
    tail = _merge_heads(g, users[0].output[0])
    if v is None or tail is None or not (q[1] == k[1] == v[1]) or tail[0] != q[1] * v[2]:
        return None
    return AttentionBlock(q=q[0], k=k[0], v=v[0], num_heads=q[1], scale=scale, bias=bias,
                          output=tail[1][-1].output[0],
                          nodes=[add, softmax, users[0], *score_nodes, *q[3], *k[3], *v[3], *tail[1]])


def drop_zero_mask(g: GraphIndex, bias: str) -> str:
    """Add(x, Where(const all-True [Expand], 0, _)) -> x (transformers' all-zero SDPA mask); else ``bias``."""
    add = g.node_of(bias, "Add")
    if add is None:
        return bias
    for keep, other in ((add.input[0], add.input[1]), (add.input[1], add.input[0])):
        where = g.node_of(other, "Where")
        if where is None:
            continue
        zero = g.const(where.input[1])
        expand = g.node_of(where.input[0], "Expand")
        condition = g.const(expand.input[0] if expand is not None else where.input[0])
        if condition is not None and condition.all() and zero is not None and zero.size == 1 and zero.item() == 0:
            return keep
    return bias
