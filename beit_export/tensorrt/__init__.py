"""TensorRT: a static parser-compatibility check that runs anywhere, and the engine builder for the target GPU.

``compat`` checks a graph against the TensorRT ONNX parser's documented operator table
(``ops.json``) and rules (``rules``); ``build_engine`` (``build``) parses and builds a strongly
typed engine with one optimization profile (``profile``) as ``TensorRTBuildOptions`` say. Only the
builder needs TensorRT (imported lazily; ``beit-deploy[tensorrt]``).
"""

from __future__ import annotations

from .build import build_engine
from .compat import check_tensorrt_compatibility, supported_operator_table, tensorrt_compatibility_report
from .options import TensorRTBuildOptions
from .profile import default_sizes, profile_shapes

__all__ = [
    "TensorRTBuildOptions",
    "build_engine",
    "check_tensorrt_compatibility",
    "default_sizes",
    "profile_shapes",
    "supported_operator_table",
    "tensorrt_compatibility_report",
]
