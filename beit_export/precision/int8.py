"""int8 graphs with ONNX Runtime's quantization tools.

* ``quantize_int8_dynamic``: the linear layers' weights become int8 (per output channel), activations
  are quantized at run time (DynamicQuantizeLinear + MatMulInteger). No calibration data; fast on
  ONNX Runtime CPU. TensorRT cannot run these ops: such a graph is for ONNX Runtime only. Weights
  use ``reduce_range`` (7 bits): on x86 CPUs without VNNI, ONNX Runtime's u8s8 kernels use
  VPMADDUBSW, whose 16-bit pair sums saturate with full-range int8 weights (measured on an AVX2-only
  AMD EPYC, tiny BEiT masked-image-modeling logits: rel-L2 0.095 full range, 0.0125 reduce_range),
  and the graph may run on a different CPU than the one that exported it. Static QDQ graphs use 7-bit
  weights for the same reason (s8s8 QDQ runs on the same u8s8 kernels there: rel-L2 0.103 -> 0.014);
  TensorRT reads them as ordinary int8 weights.
* ``quantize_int8_static``: QDQ graph (QuantizeLinear/DequantizeLinear pairs) with symmetric int8
  activations and per-channel weights, activation ranges calibrated on the batches you pass. ONNX
  Runtime fuses the pairs into integer kernels, and TensorRT reads QDQ graphs as explicit quantization.

Quantized: the transformer's linear layers (MatMul nodes with a constant 2-D weight applied to token
sequences, rank-3 activations) and, in static QDQ graphs, the convolutions of the segmentation head
that ``head_convolutions`` names (``beit_export.precision.int8_layers``: all of them, all but the
PSP/FPN bottlenecks that read a concatenation, or none; that module says which stay float and why).
Attention's activation x activation products, LayerNorm, Softmax, the residual stream, the patch
embedding and classifier convolutions, the FPN's transposed convolutions and constant
interpolation/pooling matrices applied to feature maps (segmentation head, position-embedding
resizing) stay float.
"""

from __future__ import annotations

import itertools
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np
import onnx

from beit_runtime.onnx_external_data import external_data_locations

from ..errors import ExportError
from ..graph import load_graph, refresh_value_info
from .int8_layers import head_convolution_nodes, linear_layer_nodes

QUANTIZED_OP_TYPES = ("MatMul",)
STATIC_OP_TYPES = ("MatMul", "Conv")  # static QDQ also takes the segmentation head's convolutions
_DYNAMIC_OPS = ("DynamicQuantizeLinear", "MatMulInteger", "ConvInteger", "DynamicQuantizeMatMul")


def _quantization():
    from onnxruntime import quantization

    return quantization


def _prepared(src: Path) -> tuple[onnx.ModelProto, list[str]]:
    """The graph with named nodes and inferred shapes, and the linear layers to quantize."""
    model = load_graph(src)
    for index, node in enumerate(model.graph.node):
        node.name = node.name or f"{node.op_type}_{index}"
    refresh_value_info(model)  # exporters' value_info can disagree with ONNX Runtime's own inference
    nodes = linear_layer_nodes(model)
    if not nodes:
        raise ExportError(f"{src} has no linear layers (MatMul with a constant weight) to quantize")
    return model, nodes


def _op_counts(path: Path) -> Counter:
    return Counter(node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node)


def _needs_external_data(src: str | Path) -> bool:
    return Path(src).stat().st_size > 1_800_000_000 or bool(external_data_locations(Path(src)))


def quantize_int8_dynamic(src: str | Path, dst: str | Path, *, per_channel: bool = True) -> dict:
    """Write a dynamically quantized copy of ``src`` (int8 MatMul weights) to ``dst``; return a report."""
    q = _quantization()
    src, dst = Path(src), Path(dst)
    model, nodes = _prepared(src)
    q.quantize_dynamic(
        model,
        dst,
        op_types_to_quantize=list(QUANTIZED_OP_TYPES),
        nodes_to_quantize=nodes,
        per_channel=per_channel,
        reduce_range=True,  # 7-bit weights: no u8s8 saturation on CPUs without VNNI (see the module docstring)
        weight_type=q.QuantType.QInt8,
        use_external_data_format=_needs_external_data(src),
        extra_options={"MatMulConstBOnly": True},
    )
    counts = _op_counts(dst)
    report = {
        "precision": "int8",
        "method": "dynamic",
        "weight_type": "int8",
        "activation_type": "uint8 (quantized at run time)",
        "per_channel": per_channel,
        "reduce_range": True,
        "quantized_op_types": list(QUANTIZED_OP_TYPES),
        "quantized_nodes": counts["MatMulInteger"] + counts["DynamicQuantizeMatMul"],
        "for_tensorrt": False,
        "tensorrt_note": (
            "DynamicQuantizeLinear/MatMulInteger are not TensorRT ops; build engines from fp16 or int8-qdq"
        ),
        "external_data": external_data_locations(dst),
    }
    report["notes"] = (
        f"dynamic int8: {report['quantized_nodes']} MatMul weights int8 "
        f"({'per-channel' if per_channel else 'per-tensor'}), activations quantized at run time; ONNX Runtime only"
    )
    return report


class _BatchReader:
    """onnxruntime CalibrationDataReader over an iterable of feed dicts."""

    def __init__(self, batches: Iterable[Mapping[str, np.ndarray]], input_names: list[str]) -> None:
        self._iterator: Iterator[Mapping[str, np.ndarray]] = iter(batches)
        self._names = set(input_names)
        self.count = 0

    def get_next(self):
        feeds = next(self._iterator, None)
        if feeds is None:
            return None
        if set(feeds) != self._names:
            raise ExportError(
                f"calibration batch has inputs {sorted(feeds)}, the graph takes {sorted(self._names)}"
            )
        self.count += 1
        return {name: np.asarray(value) for name, value in feeds.items()}


def _single_images(batches: Iterable[Mapping[str, np.ndarray]]) -> Iterator[dict[str, np.ndarray]]:
    """Each batch as batch-1 feeds: ORT's calibration session holds a whole batch's activations at once
    (BEiT-base + UperNet at 640 peaks at ~7.7 GB for one image, and grows with the batch), while the ranges
    it collects per run are scalars, so image by image calibrates the same ranges in a bounded footprint."""
    for feeds in batches:
        arrays = {name: np.asarray(value) for name, value in feeds.items()}
        count = min((array.shape[0] for array in arrays.values() if array.ndim), default=1)
        for index in range(count):
            yield {name: array[index:index + 1] if array.ndim else array for name, array in arrays.items()}


def _static_report(dst: Path, *, per_channel: bool, calibrate_method: str, batches: int) -> dict:
    counts = _op_counts(dst)
    return {
        "precision": "int8",
        "method": "static-qdq",
        "weight_type": "int8",
        "activation_type": "int8 (symmetric, calibrated)",
        "per_channel": per_channel,
        "reduce_range": True,
        "calibration_method": calibrate_method,
        "calibration_images": batches,
        "quantized_op_types": list(STATIC_OP_TYPES),
        "quantize_nodes": counts["QuantizeLinear"],
        "dequantize_nodes": counts["DequantizeLinear"],
        "for_tensorrt": True,
        "external_data": external_data_locations(dst),
        "notes": (
            f"static int8 QDQ: linear-layer weights and inputs int8 (symmetric), {calibrate_method} "
            f"calibration on {batches} images, one at a time"
        ),
    }


def quantize_int8_static(
    src: str | Path,
    dst: str | Path,
    *,
    calibration_batches: Iterable[Mapping[str, np.ndarray]],
    calibrate_method: str = "MinMax",
    per_channel: bool = True,
    head_convolutions: str = "all",
) -> dict:
    """Write a static QDQ int8 copy of ``src`` to ``dst``, calibrated on ``calibration_batches``.

    ``head_convolutions``: which of a segmentation head's convolutions to quantize, one of
    ``HEAD_CONVOLUTION_CHOICES`` ("all", "except-bottlenecks", "none"; see ``int8_layers``).
    """
    q = _quantization()
    src, dst = Path(src), Path(dst)
    batches = iter(calibration_batches)
    first = next(batches, None)
    if first is None:
        raise ExportError("static int8 quantization needs at least one calibration batch; none was given")
    model, nodes = _prepared(src)
    convolutions = head_convolution_nodes(model, choice=head_convolutions)
    float_convolutions = sorted(set(head_convolution_nodes(model)) - set(convolutions))
    reader = _BatchReader(_single_images(itertools.chain([first], batches)), [i.name for i in model.graph.input])
    _run_static_quantizer(q, model, dst, reader, nodes=nodes + convolutions, per_channel=per_channel,
                          calibrate_method=_calibration_method(q, calibrate_method),
                          external_data=_needs_external_data(src))
    report = _static_report(dst, per_channel=per_channel, calibrate_method=calibrate_method, batches=reader.count)
    report["quantized_convolutions"] = len(convolutions)
    report["head_convolutions"] = head_convolutions
    report["float_convolutions"] = float_convolutions
    return report


def _run_static_quantizer(q, model, dst: Path, reader: _BatchReader, *, nodes: list[str], per_channel: bool,
                          calibrate_method, external_data: bool) -> None:
    """ORT's quantize_static with this package's settings: QDQ, signed 8-bit, symmetric, 7-bit weights."""
    with tempfile.TemporaryDirectory(prefix="beit-calibrate-") as scratch:
        symmetric = {"ActivationSymmetric": True, "WeightSymmetric": True, "CalibTensorRangeSymmetric": True}
        q.quantize_static(
            model, dst, reader,
            quant_format=q.QuantFormat.QDQ,
            op_types_to_quantize=list(STATIC_OP_TYPES),
            nodes_to_quantize=nodes,
            per_channel=per_channel,
            reduce_range=True,  # 7-bit weights, as for dynamic int8 (the module docstring says why)
            activation_type=q.QuantType.QInt8,
            weight_type=q.QuantType.QInt8,
            use_external_data_format=external_data,
            calibrate_method=calibrate_method,
            # symmetric: TensorRT needs zero points of 0
            extra_options={**symmetric, "MatMulConstBOnly": True, "TmpDir": scratch},
        )


def _calibration_method(q, name: str):
    methods = q.CalibrationMethod.__members__
    if name not in methods:
        raise ExportError(f"calibrate_method must be one of {sorted(methods)}, got {name!r}")
    return methods[name]


def is_dynamic_int8(model: onnx.ModelProto) -> bool:
    """True for graphs made by ``quantize_int8_dynamic`` (ONNX Runtime only)."""
    return any(node.op_type in _DYNAMIC_OPS for node in model.graph.node)
