"""The GPU-shaped fp16 graph: each self-attention block as one ONNX Runtime MultiHeadAttention node.

Every block found by ``attention_pattern.match_attention`` in the fp32 graph becomes

    out = com.microsoft.MultiHeadAttention(q_lin, k_lin, v_lin, '', '', attention_bias; num_heads, scale)

with the relative position bias (transformers' all-zero SDPA mask dropped) as ``attention_bias``
([1, H, N, N], broadcast over the batch). The fused fp32 graph is then converted to fp16 by the same
converter and rules as the plain fp16 graph (``precision.fp16``): LayerNormalization, residual and
layer-scale adds stay fp32 and inputs/outputs stay fp32. The attention's softmax runs inside the
fused kernel (ONNX Runtime's CUDA kernels accumulate it in fp32). On the CPU provider it did not pay
(0.86-1.01x, benchmarks/RESULTS.md); it is meant for ONNX Runtime's CUDA provider.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import ExportError
from ..graph import load_graph, save_graph, topologically_sorted
from .attention_pattern import MS_DOMAIN, AttentionBlock, GraphIndex, drop_zero_mask, match_attention
from .fp16 import convert_model_to_fp16, notes_from_report
from .linear_folding import fold_layer_scales, split_projection_bias
from .packed_attention import pack_attention


def _fused_node(block: AttentionBlock, index: int, *, projection_bias: str = "") -> onnx.NodeProto:
    return helper.make_node(
        "MultiHeadAttention", [block.q, block.k, block.v, projection_bias, "", block.bias], [block.output],
        name=f"fused_attention_{index}", domain=MS_DOMAIN, num_heads=block.num_heads, scale=block.scale,
    )


def _projection_bias(graph: onnx.GraphProto, index: GraphIndex, block: AttentionBlock, number: int) -> str:
    """Move the q/k/v projection biases into one [3C] initializer for the node's ``bias`` input (a zero
    part for a projection without one, like BEiT's key); rewires ``block`` to the bare MatMul outputs.
    Returns the initializer's name, or "" when no projection has a bias (or their widths differ)."""
    parts = [split_projection_bias(index, name) for name in (block.q, block.k, block.v)]
    widths = {bias.shape[0] for _, bias, _ in parts if bias is not None}
    if len(widths) != 1:
        return ""
    width = widths.pop()
    block.q, block.k, block.v = (bare for bare, _, _ in parts)
    value = np.concatenate([bias if bias is not None else np.zeros(width, np.float32) for _, bias, _ in parts])
    name = f"fused_attention_{number}.qkv_bias"
    graph.initializer.append(numpy_helper.from_array(value.astype(np.float32), name))
    return name


def fuse_attention(model: onnx.ModelProto) -> int:
    """Rewrite ``model`` in place, each matched attention block as one node; returns how many were fused."""
    index = GraphIndex(model.graph)
    removed: set[int] = set()
    fused: list[onnx.NodeProto] = []
    for softmax in [node for node in model.graph.node if node.op_type == "Softmax"]:
        block = match_attention(index, softmax)
        if block is None:
            continue
        block.bias = drop_zero_mask(index, block.bias)
        removed.update(id(node) for node in block.nodes)
        bias = _projection_bias(model.graph, index, block, len(fused))
        fused.append(_fused_node(block, len(fused), projection_bias=bias))
    kept = [node for node in model.graph.node if id(node) not in removed]
    model.graph.ClearField("node")
    model.graph.node.extend(kept + fused)
    topologically_sorted(model)
    remove_dead_nodes(model.graph)
    if fused and not any(opset.domain == MS_DOMAIN for opset in model.opset_import):
        model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
    return len(fused)


def remove_dead_nodes(graph: onnx.GraphProto) -> None:
    """Remove nodes whose outputs nobody reads (the dropped mask), then unread initializers and value_info."""
    while True:
        used = {name for node in graph.node for name in node.input} | {out.name for out in graph.output}
        dead = [node for node in graph.node if not any(out in used for out in node.output)]
        if not dead:
            break
        for node in dead:
            graph.node.remove(node)
    used = {name for node in graph.node for name in node.input} | {out.name for out in graph.output}
    kept = [init for init in graph.initializer if init.name in used]
    graph.ClearField("initializer")
    graph.initializer.extend(kept)
    produced = {out for node in graph.node for out in node.output}
    infos = [info for info in graph.value_info if info.name in produced]
    graph.ClearField("value_info")
    graph.value_info.extend(infos)


def _attention_shape(model: onnx.ModelProto) -> tuple[int, int]:
    """(heads, hidden size) of the fused attention nodes, which the optimizer asks for (it warns at 0)."""
    inits = {init.name: init for init in model.graph.initializer}
    for node in model.graph.node:
        bias = {"MultiHeadAttention": 3, "Attention": 2}.get(node.op_type)
        if node.domain == MS_DOMAIN and bias is not None and len(node.input) > bias and node.input[bias] in inits:
            heads = next(a.i for a in node.attribute if a.name == "num_heads")
            return heads, int(np.prod(inits[node.input[bias]].dims)) // 3
    return 0, 0  # the optimizer's own detection


def _with_fused_norms(model: onnx.ModelProto) -> tuple[onnx.ModelProto, dict]:
    """ONNX Runtime's transformer fusions (residual add + LayerNorm -> SkipLayerNormalization, bias + GELU
    -> BiasGelu) on the attention-fused fp32 graph, then every op in fp16 (fp32 inputs/outputs). The fused
    kernels keep LayerNorm statistics in fp32, but the residual stream between them is fp16."""
    from onnxruntime.transformers.optimizer import optimize_model

    num_heads, hidden_size = _attention_shape(model)
    optimized = optimize_model(model, model_type="vit", num_heads=num_heads, hidden_size=hidden_size, opt_level=0,
                               use_gpu=True)
    fused = {op: count for op, count in optimized.get_fused_operator_statistics().items() if count}
    optimized.convert_float_to_float16(keep_io_types=True)
    topologically_sorted(optimized.model)  # the converter appends its input casts at the end
    return optimized.model, {"precision": "fp16", "io_types": "float32", "fused_operators": fused,
                             "converter": "onnxruntime.transformers optimizer + float16 (all ops fp16)",
                             "nodes": len(optimized.model.graph.node)}


def convert_to_fused_fp16(src: str | Path, dst: str | Path, *, fuse_norms: bool = False,
                          pack_qkv: bool = False) -> dict:
    """Write the fused-attention fp16 copy of the fp32 graph ``src`` to ``dst``; report what was done.

    ``fuse_norms=False``: the fp16 graph's precision rules, attention fused, layer scales folded.
    ``fuse_norms=True`` (``--fused-norms``): also ONNX Runtime's LayerNorm/GELU fusions, with an fp16
    residual stream. ``pack_qkv=True`` (a GPU benchmark experiment, not an export option): each block as
    com.microsoft.Attention with one packed q/k/v projection (``packed_attention``). Raises ExportError
    when no attention block matched (the graph is not the dynamo export of a BEiT/ViT encoder this
    module knows).
    """
    model = load_graph(src)
    blocks = fuse_attention(model)
    if not blocks:
        raise ExportError(f"no self-attention block of {src} matched the fusion pattern; export without "
                          "--fused-attention, or report the transformers version that wrote this graph")
    scales = fold_layer_scales(model)
    packed = pack_attention(model) if pack_qkv else 0
    remove_dead_nodes(model.graph)
    converted, report = _with_fused_norms(model) if fuse_norms else convert_model_to_fp16(model)
    report.update(fused_attention_blocks=blocks, layer_scales_folded=scales, packed_attention_blocks=packed)
    op = "Attention (one packed q/k/v projection)" if packed else "MultiHeadAttention"
    report["attention_op"] = f"{MS_DOMAIN}.{op} (relative position bias as attention_bias)"
    report["external_data"] = save_graph(converted, dst)
    rules = ("ONNX Runtime LayerNorm/GELU fusions, all ops fp16" if fuse_norms else notes_from_report(report))
    report["notes"] = (f"{blocks} attention blocks fused into {op} (q/k/v biases as its bias input); "
                       f"{scales} layer scales folded into their linear layers; {rules}")
    return report
