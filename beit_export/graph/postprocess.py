"""The fused segmentation post-processing graph (graph variant "postprocess").

``build_segmentation_postprocess`` returns a small ONNX graph:

    logits (batch, num_labels, h, w) float32, target_size (2,) int64 [height, width]
      -> Resize(mode=linear, coordinate_transformation_mode=half_pixel, antialias=0) to target_size
      -> ArgMax(axis=1, first index on ties) -> Cast -> labels (batch, H, W) int32

This is exactly ``post_process_semantic_segmentation``: ``F.interpolate(mode="bilinear",
align_corners=False)`` (no antialiasing, also when shrinking) then ``argmax`` over classes. Running it
on the accelerator means only the int32 label map travels to the host, not num_labels x H x W floats.

It is written with ``onnx.helper`` rather than exported from PyTorch: the target size is a runtime
tensor, which ``torch.onnx`` can only express through traced shape arithmetic; by hand the graph is the
five nodes above, needs no torch at run time, and is trivially checked by ``onnx.checker``. The upsampled
scores are deliberately not a second output: an engine returns every output, so they would be copied to
the host on every call; the runtime computes them itself when asked for scores.
"""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper

LOGITS = "logits"
TARGET_SIZE = "target_size"
LABELS = "labels"
LOGITS_STRIDE = 4  # UperNet's logits come out at 1/4 of the input resolution


def segmentation_postprocessing_record(*, num_labels: int, fused_graph: str | None = "postprocess") -> dict:
    """The manifest "postprocessing" record for segmentation artifacts (written by the export pipeline)."""
    return {
        "logits_stride": LOGITS_STRIDE,
        "resize": "bilinear",
        "align_corners": False,
        "antialias": False,
        "reduce": "argmax",
        "num_labels": int(num_labels),
        "fused_graph": fused_graph,
    }


def _nodes() -> list[onnx.NodeProto]:
    starts = helper.make_tensor("starts", TensorProto.INT64, [1], [0])
    ends = helper.make_tensor("ends", TensorProto.INT64, [1], [2])
    return [
        helper.make_node("Constant", [], ["slice_starts"], value=starts),
        helper.make_node("Constant", [], ["slice_ends"], value=ends),
        helper.make_node("Shape", [LOGITS], ["logits_shape"]),
        helper.make_node("Slice", ["logits_shape", "slice_starts", "slice_ends"], ["batch_and_classes"]),
        helper.make_node("Concat", ["batch_and_classes", TARGET_SIZE], ["output_sizes"], axis=0),
        helper.make_node(
            "Resize",
            [LOGITS, "", "", "output_sizes"],
            ["scores"],
            mode="linear",
            coordinate_transformation_mode="half_pixel",
            antialias=0,
        ),
        helper.make_node("ArgMax", ["scores"], ["labels_int64"], axis=1, keepdims=0, select_last_index=0),
        helper.make_node("Cast", ["labels_int64"], [LABELS], to=TensorProto.INT32),
    ]


def build_segmentation_postprocess(*, num_labels: int, opset: int = 18) -> onnx.ModelProto:
    """Bilinear (half-pixel, no antialias) upsampling of logits to ``target_size``, then argmax -> int32 labels."""
    if num_labels < 1:
        raise ValueError(f"num_labels must be >= 1, got {num_labels}")
    if opset < 18:
        raise ValueError(f"the postprocess graph needs opset >= 18 (Resize antialias attribute), got {opset}")
    inputs = [
        helper.make_tensor_value_info(
            LOGITS, TensorProto.FLOAT, ["batch", int(num_labels), "logits_height", "logits_width"]
        ),
        helper.make_tensor_value_info(TARGET_SIZE, TensorProto.INT64, [2]),
    ]
    outputs = [helper.make_tensor_value_info(LABELS, TensorProto.INT32, ["batch", "height", "width"])]
    graph = helper.make_graph(_nodes(), "beit_segmentation_postprocess", inputs, outputs)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset)],
        producer_name="beit-deploy",
        doc_string="bilinear half_pixel upsampling to target_size, then argmax over classes (int32 labels)",
    )
    model.ir_version = helper.find_min_ir_version_for(list(model.opset_import))
    onnx.checker.check_model(model, full_check=True)
    return model
