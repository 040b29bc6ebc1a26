"""Which nodes static int8 keeps float (the segmentation head's concatenation bottlenecks), and how engine parity
failures are collected for the exporter's choice."""

from __future__ import annotations

import onnx
import pytest

from beit_export.errors import ExportError
from beit_export.parity import engine_failures
from beit_export.parity.engines import _plan
from beit_export.precision import (
    HEAD_CONVOLUTION_CHOICES,
    bottleneck_convolution_nodes,
    head_convolution_nodes,
    quantize_int8_static,
)
from beit_runtime.parity_gate import AVX2_RECORD
from tests.export.precision_graphs import tiny_graphs


def _segmentation_graph() -> onnx.ModelProto:
    return onnx.load(str(tiny_graphs("semantic-segmentation").path("fp32")))


def test_bottlenecks_are_the_head_convolutions_reading_a_concatenation():
    model = _segmentation_graph()
    produced_by = {out: node.op_type for node in model.graph.node for out in node.output}
    bottlenecks = bottleneck_convolution_nodes(model)
    assert len(bottlenecks) == 2  # UperNet's PSP bottleneck and FPN bottleneck
    every = head_convolution_nodes(model)
    assert set(bottlenecks) < set(every)
    assert {produced_by[node.input[0]] for node in model.graph.node if node.name in bottlenecks} == {"Concat"}
    assert head_convolution_nodes(model, choice="except-bottlenecks") == [n for n in every if n not in bottlenecks]
    assert head_convolution_nodes(model, choice="none") == []
    assert HEAD_CONVOLUTION_CHOICES == ("all", "except-bottlenecks", "none")
    with pytest.raises(ExportError, match="except-bottlenecks"):
        head_convolution_nodes(model, choice="some")


def test_static_int8_keeps_the_bottlenecks_float_when_asked(tmp_path):
    graphs = tiny_graphs("semantic-segmentation")
    batches = [{name: value[i : i + 2] for name, value in graphs.feeds.items()} for i in range(0, 6, 2)]
    report = quantize_int8_static(graphs.path("fp32"), tmp_path / "q.onnx", calibration_batches=batches,
                                  head_convolutions="except-bottlenecks")
    model = onnx.load(str(tmp_path / "q.onnx"))
    produced_by = {out: node.op_type for node in model.graph.node for out in node.output}
    bottlenecks = bottleneck_convolution_nodes(_segmentation_graph())
    for node in model.graph.node:
        if node.name in bottlenecks:
            assert produced_by.get(node.input[1]) is None, f"{node.name} must read its float kernel directly"
    assert report["head_convolutions"] == "except-bottlenecks" and report["float_convolutions"] == sorted(bottlenecks)
    assert report["quantized_convolutions"] == len(head_convolution_nodes(_segmentation_graph())) - 2


def test_engine_failures_name_the_engine_and_skip_unmeasured_or_passing_records():
    records = {
        "openvino": {"measured": True, "passed": True, "failures": []},
        AVX2_RECORD: {"measured": True, "passed": False, "failures": ["photos: logits: rel_l2 = 0.18"]},
        "other": {"measured": False, "reason": "not installed"},
    }
    assert engine_failures(records) == [f"{AVX2_RECORD}: photos: logits: rel_l2 = 0.18"]
    assert engine_failures({}) == []


def test_static_int8_is_also_judged_on_openvino_capped_at_avx2():
    pytest.importorskip("openvino", reason="openvino is not installed (pip install beit-deploy[openvino])")
    plan = _plan("int8", dynamic_int8=False)
    assert plan["openvino"] == ("openvino", "int8")
    assert plan[AVX2_RECORD] == (AVX2_RECORD, "int8") or plan[AVX2_RECORD]["measured"] is False
    assert AVX2_RECORD not in _plan("int8", dynamic_int8=True) and AVX2_RECORD not in _plan("fp32", dynamic_int8=False)
