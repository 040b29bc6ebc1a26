"""ONNX graphs: the torch -> ONNX export, the checks every graph passes, and graph file I/O.

``export_onnx`` (dynamo exporter, opset 18, dynamic batch [+ H/W], int32 bias indices, external
data when large), ``checks`` (no index-building ops, one LayerNormalization node per LayerNorm, op
histograms), ``io`` (load/save with external data, topological sort, type inference) and
``postprocess`` (the hand-built segmentation upsample + argmax graph).
"""

from __future__ import annotations

from .checks import (
    INDEX_BUILDING_OPS,
    check_layer_norm_fused,
    check_no_index_building,
    graph_summary,
    iter_nodes,
    op_histogram,
)
from .export import MIN_OPSET, count_layer_norms, export_onnx, external_data_path
from .io import (
    EXTERNAL_DATA_THRESHOLD_BYTES,
    inferred_types,
    load_graph,
    refresh_value_info,
    save_graph,
    topologically_sorted,
)
from .postprocess import build_segmentation_postprocess, segmentation_postprocessing_record

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
