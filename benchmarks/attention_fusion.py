"""Experiment (issue 12 item 6): BEiT/ViT self-attention in our fp32 graph as one ONNX Runtime contrib node per layer.

Kept in benchmarks/, not shipped in beit_export: the benchmark row ``ort-fp32-fused-attention``
(``FusedAttentionBackend``) builds the fused graph from the artifact's fp32 graph, checks it against
the unfused graph on random inputs, and times it beside ``ort-fp32``; it moves into the exporter only
if it is faster at equal parity (see benchmarks/RESULTS.md for the verdict).

Matched subgraph (what the project's dynamo export writes, per layer):

    q = Transpose[0,2,1,3](Reshape(q_lin, [-1, N, H, D]))
    k = Transpose[0,2,3,1](Reshape(k_lin, [-1, N, H, D]))
    v = Transpose[0,2,1,3](Reshape(v_lin, [-1, N, H, D]))
    p = Softmax(Add(Mul(MatMul(q, k), scale), attention_bias), axis=-1)
    out = Reshape(Transpose[0,2,1,3](MatMul(p, v)), [-1, N, H*D])

becomes

    out = com.microsoft.MultiHeadAttention(q_lin, k_lin, v_lin, '', '', attention_bias; num_heads=H, scale=scale)

or, with --op Attention (q_lin/k_lin/v_lin must be x @ W (+ b) with constant W, b and one shared x):

    out = com.microsoft.Attention(x, concat(Wq, Wk, Wv), concat(bq, bk|0, bv), '', '', attention_bias; ...)

attention_bias is the graph's own bias tensor ([B or 1, H, N, N]). With --drop-zero-mask, an addend of the
form Where(<constant all-True>, 0, x) (transformers' all-zero SDPA mask, expanded to the batch) is dropped, so the
bias becomes the batch-broadcast relative position bias [1, H, N, N].

Usage: python -m benchmarks.attention_fusion IN.onnx OUT.onnx [--op MultiHeadAttention|Attention] [--drop-zero-mask]
"""

from __future__ import annotations

import argparse
import collections
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

MS_DOMAIN = "com.microsoft"


class Graph:
    """Producer/consumer maps and constant lookup over one onnx.GraphProto."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        self.graph = graph
        self.inits = {t.name: t for t in graph.initializer}
        self.producer = {o: n for n in graph.node for o in n.output}
        self.consumers = collections.defaultdict(list)
        for node in graph.node:
            for name in node.input:
                self.consumers[name].append(node)
        self.outputs = {o.name for o in graph.output}
        self.dims = {
            v.name: [d.dim_value if d.HasField("dim_value") else -1 for d in v.type.tensor_type.shape.dim]
            for v in [*graph.value_info, *graph.output] if v.type.tensor_type.HasField("shape")
        }

    def reshaped_dims(self, reshape: onnx.NodeProto) -> list[int] | None:
        """Static target sizes of a Reshape (-1 where unknown): its constant shape, else the recorded value_info."""
        shape = self.const(reshape.input[1])
        recorded = self.dims.get(reshape.output[0])
        if shape is None:
            return recorded
        sizes = [int(v) for v in shape]
        if recorded is not None and len(recorded) == len(sizes):
            sizes = [r if s <= 0 and r > 0 else s for s, r in zip(sizes, recorded)]
        return sizes

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
        """True when ``name`` has exactly one consumer and is no graph output (safe to delete its producer)."""
        return len(self.consumers[name]) == 1 and name not in self.outputs


def _perm(node: onnx.NodeProto) -> list[int]:
    return next((list(a.ints) for a in node.attribute if a.name == "perm"), [])


def _axis(node: onnx.NodeProto, default: int) -> int:
    return next((a.i for a in node.attribute if a.name == "axis"), default)


def _heads_branch(g: Graph, name: str, perm: list[int]):
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


def _scaled_scores(g: Graph, add: onnx.NodeProto):
    """Add(Mul(MatMul(q, k), scale), bias) in either operand order -> (matmul, scale, bias, [mul])."""
    for scores, bias in ((add.input[0], add.input[1]), (add.input[1], add.input[0])):
        mul = g.node_of(scores, "Mul")
        if mul is None or not g.private(scores):
            continue
        for mm, sc in ((mul.input[0], mul.input[1]), (mul.input[1], mul.input[0])):
            matmul, scale = g.node_of(mm, "MatMul"), g.const(sc)
            if matmul is not None and scale is not None and scale.size == 1 and g.private(mm):
                return matmul, float(scale.reshape(())), bias, [mul, matmul]
    return None


def match_layer(g: Graph, softmax: onnx.NodeProto) -> dict | None:
    """Match one attention block around ``softmax``; None if it is not the expected pattern."""
    if _axis(softmax, -1) not in (-1, 3):
        return None
    add = g.node_of(softmax.input[0], "Add")
    if add is None or not g.private(softmax.input[0]):
        return None
    scores = _scaled_scores(g, add)
    if scores is None:
        return None
    qk, scale, bias, score_nodes = scores
    q, k = _heads_branch(g, qk.input[0], [0, 2, 1, 3]), _heads_branch(g, qk.input[1], [0, 2, 3, 1])
    users = g.consumers[softmax.output[0]]
    if q is None or k is None or len(users) != 1 or users[0].op_type != "MatMul" or users[0].input[0] != softmax.output[0]:
        return None
    pv = users[0]
    v = _heads_branch(g, pv.input[1], [0, 2, 1, 3])
    tail = _merge_heads(g, pv.output[0])
    if v is None or tail is None or not (q[1] == k[1] == v[1]) or tail[0] != q[1] * v[2]:
        return None
    return {
        "q": q[0], "k": k[0], "v": v[0], "num_heads": q[1], "scale": scale, "bias": bias,
        "output": tail[1][-1].output[0],
        "remove": [add, softmax, pv, *score_nodes, *q[3], *k[3], *v[3], *tail[1]],
    }


def _merge_heads(g: Graph, name: str):
    """Reshape(Transpose[0,2,1,3](x), [.., N, H*D]) -> (H*D, [transpose, reshape]) or None."""
    users = g.consumers[name]
    if len(users) != 1 or users[0].op_type != "Transpose" or _perm(users[0]) != [0, 2, 1, 3] or name in g.outputs:
        return None
    transpose = users[0]
    after = g.consumers[transpose.output[0]]
    if len(after) != 1 or after[0].op_type != "Reshape" or transpose.output[0] in g.outputs:
        return None
    shape = g.reshaped_dims(after[0])
    if shape is None or len(shape) != 3 or shape[2] <= 0:
        return None
    return int(shape[2]), [transpose, after[0]]


def drop_zero_mask(g: Graph, bias: str) -> str:
    """Add(x, Where(const all-True [Expand], 0, _)) -> x (transformers' all-zero SDPA mask); else bias."""
    add = g.node_of(bias, "Add")
    if add is None:
        return bias
    for keep, other in ((add.input[0], add.input[1]), (add.input[1], add.input[0])):
        where = g.node_of(other, "Where")
        if where is None:
            continue
        cond, zero = where.input[0], g.const(where.input[1])
        expand = g.node_of(cond, "Expand")
        cond_value = g.const(expand.input[0] if expand is not None else cond)
        if cond_value is not None and cond_value.all() and zero is not None and zero.size == 1 and zero.item() == 0:
            return keep
    return bias


def _projection(g: Graph, name: str):
    """x @ W (+ b) with constant W (and b) -> (x, W, b or None, [nodes]) or None."""
    bias, nodes = None, []
    add = g.node_of(name, "Add")
    if add is not None:
        for mm, b in ((add.input[0], add.input[1]), (add.input[1], add.input[0])):
            if g.node_of(mm, "MatMul") is not None and g.const(b) is not None and g.private(mm):
                name, bias, nodes = mm, g.const(b), [add]
                break
        else:
            return None
    matmul = g.node_of(name, "MatMul")
    weight = g.const(matmul.input[1]) if matmul is not None else None
    if weight is None or weight.ndim != 2:
        return None
    return matmul.input[0], weight, bias, [*nodes, matmul]


def _attention_node(g: Graph, found: dict, index: int, new_inits: list) -> onnx.NodeProto | None:
    """com.microsoft.Attention with packed QKV weights; None if projections are not constant x @ W + b."""
    parts = [_projection(g, found[key]) for key in ("q", "k", "v")]
    if any(p is None for p in parts) or len({p[0] for p in parts}) != 1:
        return None
    if not all(g.private(found[key]) for key in ("q", "k", "v")):
        return None
    weights = np.concatenate([p[1] for p in parts], axis=1)
    biases = np.concatenate([p[2] if p[2] is not None else np.zeros(p[1].shape[1], p[1].dtype) for p in parts])
    w_name, b_name = f"fused_attention_{index}.qkv_weight", f"fused_attention_{index}.qkv_bias"
    new_inits += [numpy_helper.from_array(weights, w_name), numpy_helper.from_array(biases, b_name)]
    found["remove"] += [n for p in parts for n in p[3]]
    hidden = parts[0][1].shape[1]
    return helper.make_node(
        "Attention", [parts[0][0], w_name, b_name, "", "", found["bias"]], [found["output"]],
        name=f"fused_attention_{index}", domain=MS_DOMAIN, num_heads=found["num_heads"], scale=found["scale"],
        qkv_hidden_sizes=[hidden, parts[1][1].shape[1], parts[2][1].shape[1]],
    )


def _mha_node(found: dict, index: int) -> onnx.NodeProto:
    return helper.make_node(
        "MultiHeadAttention", [found["q"], found["k"], found["v"], "", "", found["bias"]], [found["output"]],
        name=f"fused_mha_{index}", domain=MS_DOMAIN, num_heads=found["num_heads"], scale=found["scale"],
    )


def fuse_attention(model: onnx.ModelProto, *, op: str = "MultiHeadAttention", zero_mask: str = "keep") -> int:
    """Rewrite ``model`` in place; returns the number of attention blocks fused."""
    g = Graph(model.graph)
    removed, added, new_inits = set(), {}, []
    for softmax in [n for n in model.graph.node if n.op_type == "Softmax"]:
        found = match_layer(g, softmax)
        if found is None:
            continue
        if zero_mask == "drop":
            found["bias"] = drop_zero_mask(g, found["bias"])
        node = _attention_node(g, found, len(added), new_inits) if op == "Attention" else _mha_node(found, len(added))
        if node is None:
            continue
        removed.update(id(n) for n in found["remove"])
        added[id(found["remove"][0])] = node
    model.graph.initializer.extend(new_inits)
    _replace_nodes(model.graph, removed, added)
    _remove_dead(model.graph)
    if added and not any(o.domain == MS_DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
    return len(added)


def _replace_nodes(graph: onnx.GraphProto, removed: set, added: dict) -> None:
    """Drop removed nodes; put each fused node where its block's first matched node (the Add) stood."""
    kept = []
    for node in graph.node:
        if id(node) in added:
            kept.append(added[id(node)])
        if id(node) not in removed:
            kept.append(node)
    graph.ClearField("node")
    graph.node.extend(_topological(kept, graph))


def _topological(nodes: list, graph: onnx.GraphProto) -> list:
    """Kahn order, stable w.r.t. the given order (fused nodes may precede their inputs' producers)."""
    ready = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending, order = list(nodes), []
    while pending:
        rest = [n for n in pending if not all(i in ready for i in n.input)]
        done = [n for n in pending if all(i in ready for i in n.input)]
        if not done:
            raise ValueError("graph has a cycle or an undefined input after fusion")
        for n in done:
            order.append(n)
            ready.update(n.output)
        pending = rest
    return order


def _remove_dead(graph: onnx.GraphProto) -> None:
    """Remove nodes whose outputs nobody reads, then initializers nobody reads."""
    while True:
        used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
        dead = [n for n in graph.node if not any(o in used for o in n.output)]
        if not dead:
            break
        for n in dead:
            graph.node.remove(n)
    used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    keep = [t for t in graph.initializer if t.name in used]
    graph.ClearField("initializer")
    graph.initializer.extend(keep)
    produced = {o for n in graph.node for o in n.output}
    infos = [v for v in graph.value_info if v.name in produced]
    graph.ClearField("value_info")
    graph.value_info.extend(infos)


def fuse_graph_file(source, target, *, op: str = "MultiHeadAttention") -> int:
    """Write the fused copy of the graph ``source`` to ``target`` (dropping the all-zero mask); returns the block count."""
    from pathlib import Path

    model = onnx.load(str(source))
    fused = fuse_attention(model, op=op, zero_mask="drop")
    if not fused:
        raise ValueError(f"no attention block of {source} matched the fusion pattern")
    onnx.checker.check_model(model, full_check=True)
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    large = model.ByteSize() > 1_900_000_000
    onnx.save(model, str(target), save_as_external_data=large, location=Path(target).name + ".data")
    return fused


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("target")
    parser.add_argument("--op", choices=("MultiHeadAttention", "Attention"), default="MultiHeadAttention")
    parser.add_argument("--drop-zero-mask", action="store_true", help="drop the all-zero Where mask from the bias")
    args = parser.parse_args(argv)
    model = onnx.load(args.source)
    before = len(model.graph.node)
    fused = fuse_attention(model, op=args.op, zero_mask="drop" if args.drop_zero_mask else "keep")
    onnx.checker.check_model(model, full_check=True)
    large = model.ByteSize() > 1_900_000_000
    onnx.save(model, args.target, save_as_external_data=large, location=args.target.split("/")[-1] + ".data")
    print(f"fused {fused} attention blocks into {args.op}; nodes {before} -> {len(model.graph.node)}")
    return 0 if fused else 1


if __name__ == "__main__":
    sys.exit(main())
