"""Reduced-precision graphs made from the exported fp32 graph.

``convert_to_fp16`` (fp16 weights and compute, LayerNorm/Softmax/residual adds kept fp32, fp32 I/O)
and ``quantize_int8_static`` (QDQ, calibrated) / ``quantize_int8_dynamic`` (ONNX Runtime CPU only);
``int8_layers`` says which nodes static int8 quantizes and which it keeps float, and why.
The tolerances these graphs are held to live in ``beit_export.parity.tolerances``.
"""

from __future__ import annotations

from ..options import INT8_MODES
from .fp16 import convert_model_to_fp16, convert_to_fp16
from .int8 import is_dynamic_int8, quantize_int8_dynamic, quantize_int8_static
from .int8_layers import HEAD_CONVOLUTION_CHOICES, bottleneck_convolution_nodes, head_convolution_nodes

__all__ = [
    "HEAD_CONVOLUTION_CHOICES",
    "INT8_MODES",
    "bottleneck_convolution_nodes",
    "convert_model_to_fp16",
    "convert_to_fp16",
    "head_convolution_nodes",
    "is_dynamic_int8",
    "quantize_int8_dynamic",
    "quantize_int8_static",
]
