"""Constant folding the GPU-shaped graphs rely on: layer scales into their linear layers, and the
q/k/v projection biases split off for MultiHeadAttention's own ``bias`` input.

* ``fold_layer_scales``: BEiT's layer scale (``lambda_1``/``lambda_2``, a per-channel constant) after a
  linear layer, ``Mul(Add(MatMul(x, W), b), gamma)``, becomes ``Add(MatMul(x, W * gamma), b * gamma)``.
  The same function in exact arithmetic; one elementwise kernel less per residual branch, and the bias
  add then meets the residual add directly, which ONNX Runtime's SkipLayerNormalization fusion absorbs.
* ``split_projection_bias``: ``Add(MatMul(x, W), b)`` -> (the MatMul's output, b), so the fused
  attention node adds the bias inside its own input transpose instead of a separate kernel.

Folded constants are new initializers (the exporter shares equal initializers between layers, so the
originals are left for their other readers); unread ones are removed by the caller's dead-code pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

from .attention_pattern import GraphIndex


@dataclass
class Linear:
    """``MatMul(x, weight)``, then ``Add(.., bias)`` when ``add`` is set (``bias`` its input ``bias_index``)."""

    matmul: onnx.NodeProto
    weight: np.ndarray
    add: onnx.NodeProto | None = None
    bias: np.ndarray | None = None
    bias_index: int = -1


def linear_layer(g: GraphIndex, name: str) -> Linear | None:
    """``name`` = [Add(]MatMul(x, W)[, b)] with constant 2-D W and 1-D b, each produced for one reader;
    else None."""
    add = g.node_of(name, "Add")
    candidates = [(add.input[0], 1), (add.input[1], 0)] if add is not None else [(name, -1)]
    for product, bias_index in candidates:
        matmul = g.node_of(product, "MatMul")
        if matmul is None or (add is not None and not g.private(product)):
            continue
        weight = g.const(matmul.input[1])
        if weight is None or weight.ndim != 2 or weight.dtype != np.float32:
            continue
        if add is None:
            return Linear(matmul, weight)
        bias = g.const(add.input[bias_index])
        if bias is not None and bias.shape == (weight.shape[1],) and bias.dtype == np.float32:
            return Linear(matmul, weight, add, bias, bias_index)
    return None


def _per_channel(g: GraphIndex, name: str, channels: int) -> np.ndarray | None:
    """A float32 constant that scales only the last axis (shape [C], [1, C], [1, 1, C]) -> [C]; else None."""
    value = g.const(name)
    if value is None or value.dtype != np.float32 or value.ndim < 1 or value.shape[-1] != channels:
        return None
    return value.reshape(channels) if value.size == channels else None


def _new_initializer(graph: onnx.GraphProto, value: np.ndarray, name: str) -> str:
    taken = {init.name for init in graph.initializer}
    while name in taken:
        name += "_"
    graph.initializer.append(numpy_helper.from_array(value.astype(np.float32), name))
    return name


def _fold_one(g: GraphIndex, mul: onnx.NodeProto, index: int) -> bool:
    for linear_out, factor in ((mul.input[0], mul.input[1]), (mul.input[1], mul.input[0])):
        linear = linear_layer(g, linear_out) if g.private(linear_out) else None
        if linear is None:
            continue
        gamma = _per_channel(g, factor, linear.weight.shape[1])
        if gamma is None:
            continue
        linear.matmul.input[1] = _new_initializer(g.graph, linear.weight * gamma, f"layer_scaled_{index}.weight")
        last = linear.matmul
        if linear.add is not None and linear.bias is not None:
            linear.add.input[linear.bias_index] = _new_initializer(g.graph, linear.bias * gamma,
                                                                   f"layer_scaled_{index}.bias")
            last = linear.add
        last.output[0] = mul.output[0]  # the Mul's readers now read the scaled linear layer
        g.graph.node.remove(mul)
        return True
    return False


def fold_layer_scales(model: onnx.ModelProto) -> int:
    """Fold every per-channel constant Mul after a linear layer into that layer, in place; returns how many."""
    folded, index = 0, GraphIndex(model.graph)
    for mul in [node for node in model.graph.node if node.op_type == "Mul"]:
        if _fold_one(index, mul, folded):
            folded += 1
            index = GraphIndex(model.graph)  # the fold rewired producers: look again from the new graph
    return folded


def split_projection_bias(g: GraphIndex, name: str) -> tuple[str, np.ndarray | None, onnx.NodeProto | None]:
    """``name`` = Add(MatMul(x, W), b), read only by the attention -> (MatMul output, b, the Add);
    otherwise (``name``, None, None): the projection is used as it is, with no bias of its own."""
    linear = linear_layer(g, name) if g.private(name) else None
    if linear is None or linear.add is None:
        return name, None, None
    return linear.matmul.output[0], linear.bias, linear.add
