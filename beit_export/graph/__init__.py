"""ONNX graphs: the torch -> ONNX export, the checks every graph passes, and graph file I/O.

``export_onnx`` (dynamo exporter, opset 18, dynamic batch [+ H/W], int32 bias indices, external
data when large), ``checks`` (no index-building ops, one LayerNormalization node per LayerNorm, op
histograms), ``io`` (load/save with external data, topological sort, type inference) and
``postprocess`` (the hand-built segmentation upsample + argmax graph).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .checks import (
    INDEX_BUILDING_OPS,
    check_layer_norm_fused,
    check_no_index_building,
    graph_summary,
    iter_nodes,
    op_histogram,
)
from .io import (
    EXTERNAL_DATA_THRESHOLD_BYTES,
    inferred_types,
    load_graph,
    refresh_value_info,
    save_graph,
    topologically_sorted,
)
from .postprocess import build_segmentation_postprocess, segmentation_postprocessing_record

if TYPE_CHECKING:
    from .export import MIN_OPSET, count_layer_norms, export_onnx, external_data_path

# ``export`` imports torch: its names load on first use, so reading and checking graphs (TensorRT's
# compatibility check in `beit-export build-engine`, say) does not pay for it
_WITH_TORCH = ("MIN_OPSET", "count_layer_norms", "export_onnx", "external_data_path")

__all__ = [
    "EXTERNAL_DATA_THRESHOLD_BYTES",
    "INDEX_BUILDING_OPS",
    "MIN_OPSET",
    "build_segmentation_postprocess",
    "check_layer_norm_fused",
    "check_no_index_building",
    "count_layer_norms",
    "export_onnx",
    "external_data_path",
    "graph_summary",
    "inferred_types",
    "iter_nodes",
    "load_graph",
    "op_histogram",
    "refresh_value_info",
    "save_graph",
    "segmentation_postprocessing_record",
    "topologically_sorted",
]


def __getattr__(name: str):
    if name in _WITH_TORCH:
        return getattr(importlib.import_module(f"{__name__}.export"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
