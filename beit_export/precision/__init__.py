"""Reduced-precision graphs made from the exported fp32 graph.

``convert_to_fp16`` (fp16 weights and compute, LayerNorm/Softmax/residual adds kept fp32, fp32 I/O)
and ``quantize_int8_static`` (QDQ, calibrated) / ``quantize_int8_dynamic`` (ONNX Runtime CPU only).
The tolerances these graphs are held to live in ``beit_export.parity.tolerances``.
"""

from __future__ import annotations

from .fp16 import convert_model_to_fp16, convert_to_fp16
from .int8 import INT8_MODES, is_dynamic_int8, quantize_int8_dynamic, quantize_int8_static

__all__ = [
    "INT8_MODES",
    "convert_model_to_fp16",
    "convert_to_fp16",
    "is_dynamic_int8",
    "quantize_int8_dynamic",
    "quantize_int8_static",
]
