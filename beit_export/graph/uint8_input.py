"""A graph that takes the resized uint8 pixels and does the rescale + normalisation itself (on the device).

The runtime's CPU preprocessing is Pillow's resize (kept on the CPU: it is what the checkpoint's
processor does, and no device resize reproduces it exactly) followed by rescale + normalise through a
per-channel table of the float32 value of each 8-bit level. This module moves that second step into
the graph: a new first input ``pixels`` (uint8, NHWC ``[batch, H, W, 3]`` as Pillow gives them, or
NCHW) goes through ``Gather(table, pixels + 256 * channel)``, the same table, so the float32 tensor
the model sees is bit-for-bit the one the CPU path makes. Every other input and every output is
unchanged; ``pixel_values`` is no longer an input. Feeding uint8 instead of float32 also moves a
quarter of the bytes from the host to the device.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from beit_runtime.device_input import LAYOUTS, UINT8_INPUT
from beit_runtime.preprocess import Preprocessor

from ..errors import ExportError
from .io import load_graph, save_graph, topologically_sorted

_PIXEL_VALUES = "pixel_values"


def normalisation_table(preprocessing: Mapping[str, Any]) -> np.ndarray:
    """(3, 256) float32: the runtime's output for each 8-bit level of each channel under this recipe."""
    recipe = dict(preprocessing)
    recipe.update(do_resize=False, do_center_crop=False)
    levels = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)  # (1, 256, 3) image
    return np.ascontiguousarray(Preprocessor.from_manifest(recipe)(levels)[:, 0, :], dtype=np.float32)


def _input_dims(model: onnx.ModelProto) -> list[onnx.TensorShapeProto.Dimension]:
    for value in model.graph.input:
        if value.name == _PIXEL_VALUES:
            return list(value.type.tensor_type.shape.dim)
    raise ExportError(f"the graph has no '{_PIXEL_VALUES}' input to take uint8 pixels for; its inputs are "
                      f"{[v.name for v in model.graph.input]}")


def _dim_value(dim: onnx.TensorShapeProto.Dimension) -> int | str:
    return dim.dim_value if dim.HasField("dim_value") else (dim.dim_param or "?")


def _normalisation_nodes(layout: str) -> list[onnx.NodeProto]:
    nodes = []
    source = UINT8_INPUT
    if layout == "nhwc":
        nodes.append(helper.make_node("Transpose", [UINT8_INPUT], ["pixels_nchw"], perm=[0, 3, 1, 2],
                                      name="uint8_input_to_nchw"))
        source = "pixels_nchw"
    nodes += [
        helper.make_node("Cast", [source], ["pixels_int32"], to=TensorProto.INT32, name="uint8_input_cast"),
        helper.make_node("Add", ["pixels_int32", "uint8_input.channel_offsets"], ["pixels_table_index"],
                         name="uint8_input_index"),
        helper.make_node("Gather", ["uint8_input.table", "pixels_table_index"], [_PIXEL_VALUES], axis=0,
                         name="uint8_input_normalise"),
    ]
    return nodes


def add_uint8_input(model: onnx.ModelProto, preprocessing: Mapping[str, Any], *, layout: str = "nhwc") -> None:
    """Rewrite ``model`` in place: ``pixel_values`` (float32 NCHW) becomes the uint8 input ``pixels``."""
    if layout not in LAYOUTS:
        raise ExportError(f"uint8 input layout must be one of {LAYOUTS}, got {layout!r}")
    batch, channels, height, width = (_dim_value(d) for d in _input_dims(model))
    if channels != 3:
        raise ExportError(f"uint8 input needs a 3-channel graph, this one takes {channels} channels")
    shape = [batch, height, width, 3] if layout == "nhwc" else [batch, 3, height, width]
    table = normalisation_table(preprocessing)
    offsets = (np.arange(3, dtype=np.int32) * 256).reshape(1, 3, 1, 1)
    graph = model.graph
    kept_inputs = [v for v in graph.input if v.name != _PIXEL_VALUES]
    graph.ClearField("input")
    graph.input.extend([helper.make_tensor_value_info(UINT8_INPUT, TensorProto.UINT8, shape), *kept_inputs])
    graph.initializer.extend([numpy_helper.from_array(table.reshape(-1), "uint8_input.table"),
                              numpy_helper.from_array(offsets, "uint8_input.channel_offsets")])
    nodes = _normalisation_nodes(layout) + list(graph.node)
    graph.ClearField("node")
    graph.node.extend(nodes)
    topologically_sorted(model)


def write_uint8_input_graph(src: str | Path, dst: str | Path, preprocessing: Mapping[str, Any], *,
                            layout: str = "nhwc") -> dict:
    """Write a copy of the graph ``src`` taking uint8 ``pixels`` to ``dst``; returns a report for the manifest."""
    model = load_graph(src)
    add_uint8_input(model, preprocessing, layout=layout)
    onnx.checker.check_model(model)
    return {"input": UINT8_INPUT, "dtype": "uint8", "layout": layout, "external_data": save_graph(model, dst),
            "notes": f"uint8 {layout.upper()} pixels in; rescale + normalise in the graph by the runtime's "
                     "per-level table (bit-exact with the CPU path)"}
