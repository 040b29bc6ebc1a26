"""Which nodes of a graph static int8 quantizes, and which it keeps float.

Quantized: the transformer's linear layers (``linear_layer_nodes``) and, in static QDQ graphs, the
convolutions of a segmentation head (``head_convolution_nodes``), as far as ``head_convolutions``
says:

* ``"all"``: every Conv with a constant kernel except the patch embedding and the classifier;
* ``"except-bottlenecks"``: those, less the convolutions that read a channel concatenation
  (``bottleneck_convolution_nodes``: UperNet's PSP bottleneck, which reads the last feature map
  concatenated with its four pooled branches, and its FPN bottleneck, which reads the four FPN
  levels concatenated);
* ``"none"``: linear layers only.

The exporter tries them in ``HEAD_CONVOLUTION_CHOICES`` order and keeps the first graph that passes
parity on every engine it measures (``beit_export.pipeline``).

Why the bottlenecks are the ones kept float (measured on the trained demo segmentation model,
``beit-deploy/demo-segmentation``, rel-L2 of the logits on the six scikit-image photos): one int8
scale covers a concatenation of branches with different ranges, and OpenVINO 2026.4's int8
convolutions on a CPU without AVX-512/VNNI (an AVX2-only AMD EPYC; reproduced here with oneDNN
capped at AVX2) compute those symmetric-int8 inputs far less exactly than ONNX Runtime does.
Quantizing the linear layers plus one head convolution at a time, the FPN bottleneck alone gives
rel-L2 0.179 on OpenVINO-AVX2 and the PSP bottleneck 0.063; each of the other ten head convolutions
stays at or below 0.012 (linear layers alone: 0.006). With both bottlenecks float: rel-L2 0.016 on
OpenVINO-AVX2, 0.016 on ONNX Runtime (all head convolutions: 0.183 and 0.018). Asymmetric uint8
activations also pass there (0.013), but TensorRT needs zero points of 0, so the one int8 graph stays
symmetric and these two layers stay float instead.

The patch embedding (a Conv on ``pixel_values``) and the classifier (the Conv that writes the
``logits`` output) always stay float: calibrated on photos, an int8 classifier clips the logits of
other inputs (tiny demo model, random inputs: max-abs scaled 0.30 with it, 0.13 without).
"""

from __future__ import annotations

import onnx

from ..errors import ExportError

HEAD_CONVOLUTION_CHOICES = ("all", "except-bottlenecks", "none")


def linear_layer_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the MatMul nodes that are linear layers: constant 2-D weight, rank-3 token input."""
    ranks = {
        value.name: len(value.type.tensor_type.shape.dim)
        for value in [*model.graph.value_info, *model.graph.input]
        if value.type.tensor_type.HasField("shape")
    }
    weights = {init.name: len(init.dims) for init in model.graph.initializer}
    return [
        node.name
        for node in model.graph.node
        if node.op_type == "MatMul" and weights.get(node.input[1]) == 2 and ranks.get(node.input[0]) == 3
    ]


def _head_convolutions(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    """Conv nodes with a constant 4-D kernel, except those reading a graph input or writing a graph output."""
    weights = {init.name: len(init.dims) for init in model.graph.initializer}
    inputs = {value.name for value in model.graph.input}
    outputs = {value.name for value in model.graph.output}
    return [
        node
        for node in model.graph.node
        if node.op_type == "Conv" and weights.get(node.input[1]) == 4 and node.input[0] not in inputs
        and not outputs.intersection(node.output)
    ]


def bottleneck_convolution_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the head convolutions whose input is a Concat (UperNet's PSP and FPN bottlenecks)."""
    concatenated = {output for node in model.graph.node if node.op_type == "Concat" for output in node.output}
    return [node.name for node in _head_convolutions(model) if node.input[0] in concatenated]


def head_convolution_nodes(model: onnx.ModelProto, *, choice: str = "all") -> list[str]:
    """Names of the segmentation head's Conv nodes that ``choice`` (see ``HEAD_CONVOLUTION_CHOICES``) quantizes.

    In a segmentation graph these are UperNet's convolutions (PSP, FPN, fusion: about 80% of the FLOPs
    at 640); the patch embedding and the classifier are never among them.
    """
    if choice not in HEAD_CONVOLUTION_CHOICES:
        raise ExportError(f"head_convolutions must be one of {HEAD_CONVOLUTION_CHOICES}, got {choice!r}")
    if choice == "none":
        return []
    kept_float = set(bottleneck_convolution_nodes(model)) if choice == "except-bottlenecks" else set()
    return [node.name for node in _head_convolutions(model) if node.name not in kept_float]
