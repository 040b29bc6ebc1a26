"""The int8 candidates of ``benchmarks.int8_options``, each built from the same fp32 ONNX graph.

Every candidate quantizes the same nodes the exporter quantizes (``beit_export.precision.int8_layers``:
the transformer's linear layers), except NNCF's, which choose their own (``ModelType.TRANSFORMER``).
Static candidates calibrate on the images the exporter calibrates on (the scikit-image photos through
the checkpoint's HF processor), one image at a time. A candidate that cannot be built is returned
with an ``error`` instead of a ``path``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

Feeds = dict[str, np.ndarray]


@dataclass(frozen=True)
class Candidate:
    """One int8 graph: where it runs, how it was made, and its file (or why it could not be made)."""

    name: str
    backend: str  # "onnxruntime" or "openvino"
    description: str
    path: str = ""
    error: str = ""


def _prepared(src: Path) -> tuple[onnx.ModelProto, list[str]]:
    """The graph with named nodes and fresh shapes, and its linear layers (as the exporter prepares it)."""
    from beit_export.graph.io import load_graph, refresh_value_info
    from beit_export.precision.int8_layers import linear_layer_nodes

    model = load_graph(src)
    for index, node in enumerate(model.graph.node):
        node.name = node.name or f"{node.op_type}_{index}"
    refresh_value_info(model)
    return model, linear_layer_nodes(model)


def _dynamic(src: Path, dst: Path, *, per_channel: bool, reduce_range: bool, weight: str) -> None:
    from onnxruntime import quantization as q

    model, nodes = _prepared(src)
    q.quantize_dynamic(model, dst, op_types_to_quantize=["MatMul"], nodes_to_quantize=nodes,
                       per_channel=per_channel, reduce_range=reduce_range,
                       weight_type=getattr(q.QuantType, weight), extra_options={"MatMulConstBOnly": True})


class _Reader:
    """onnxruntime CalibrationDataReader over single-image feeds."""

    def __init__(self, feeds: Sequence[Feeds]) -> None:
        self._items = iter(feeds)

    def get_next(self) -> Feeds | None:
        return next(self._items, None)


def _static_qoperator(src: Path, dst: Path, *, calibration: Sequence[Feeds]) -> None:
    """ORT's CPU-oriented static format: QLinearMatMul, asymmetric uint8 activations, int8 7-bit weights."""
    from onnxruntime import quantization as q

    model, nodes = _prepared(src)
    with tempfile.TemporaryDirectory(prefix="int8-options-") as scratch:
        q.quantize_static(model, dst, _Reader(calibration), quant_format=q.QuantFormat.QOperator,
                          op_types_to_quantize=["MatMul"], nodes_to_quantize=nodes, per_channel=True,
                          reduce_range=True, activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8,
                          extra_options={"MatMulConstBOnly": True, "TmpDir": scratch})


def _static_qdq_exporter(src: Path, dst: Path, *, calibration: Sequence[Feeds]) -> None:
    from beit_export.precision.int8 import quantize_int8_static

    quantize_int8_static(src, dst, calibration_batches=list(calibration))


def _nncf_dataset(calibration: Sequence[Feeds], *, by_name: bool) -> Any:
    import nncf

    items = list(calibration)
    return nncf.Dataset(items, (lambda feeds: feeds) if by_name else (lambda feeds: next(iter(feeds.values()))))


def _nncf_onnx(src: Path, dst: Path, *, calibration: Sequence[Feeds]) -> None:
    import nncf

    quantized = nncf.quantize(onnx.load(str(src)), _nncf_dataset(calibration, by_name=True),
                              model_type=nncf.ModelType.TRANSFORMER, subset_size=len(calibration))
    onnx.save(quantized, str(dst))


def _nncf_onnx_linear(src: Path, dst: Path, *, calibration: Sequence[Feeds]) -> None:
    """NNCF restricted to the exporter's linear layers: every other MatMul/Gemm/Conv is in its ignored scope."""
    import nncf

    model, linear = _prepared(src)
    other = [n.name for n in model.graph.node if n.op_type in ("MatMul", "Gemm", "Conv") and n.name not in linear]
    quantized = nncf.quantize(model, _nncf_dataset(calibration, by_name=True), model_type=nncf.ModelType.TRANSFORMER,
                              subset_size=len(calibration), ignored_scope=nncf.IgnoredScope(names=other))
    onnx.save(quantized, str(dst))


def _nncf_openvino(src: Path, dst: Path, *, calibration: Sequence[Feeds]) -> None:
    import nncf
    import openvino as ov

    model = ov.Core().read_model(str(src))
    quantized = nncf.quantize(model, _nncf_dataset(calibration, by_name=False),
                              model_type=nncf.ModelType.TRANSFORMER, subset_size=len(calibration))
    ov.save_model(quantized, str(dst), compress_to_fp16=False)


_Builder = Callable[..., None]
# name -> (backend, file name, description, builder, keyword arguments; "calibration" is added for static ones)
RECIPES: dict[str, tuple[str, str, str, _Builder, dict[str, Any]]] = {
    "ort-dynamic-u8s8-rr-pc": ("onnxruntime", "dyn_rr_pc.onnx", "ORT dynamic u8s8, 7-bit per-channel weights "
                               "(the exporter's int8-mode dynamic)", _dynamic,
                               {"per_channel": True, "reduce_range": True, "weight": "QInt8"}),
    "ort-dynamic-u8s8-full-pc": ("onnxruntime", "dyn_full_pc.onnx", "ORT dynamic u8s8, full-range per-channel "
                                 "weights", _dynamic, {"per_channel": True, "reduce_range": False, "weight": "QInt8"}),
    "ort-dynamic-u8s8-rr-pt": ("onnxruntime", "dyn_rr_pt.onnx", "ORT dynamic u8s8, 7-bit per-tensor weights",
                               _dynamic, {"per_channel": False, "reduce_range": True, "weight": "QInt8"}),
    "ort-dynamic-u8u8-pc": ("onnxruntime", "dyn_u8u8.onnx", "ORT dynamic u8u8 (uint8 weights), per-channel",
                            _dynamic, {"per_channel": True, "reduce_range": False, "weight": "QUInt8"}),
    "ort-static-qdq": ("onnxruntime", "static_qdq.onnx", "static QDQ s8s8 symmetric, 7-bit per-channel weights "
                       "(the exporter's int8-mode static)", _static_qdq_exporter, {}),
    "ort-static-qoperator": ("onnxruntime", "static_qop.onnx", "static QOperator (QLinearMatMul) u8 asymmetric "
                             "activations, 7-bit per-channel s8 weights", _static_qoperator, {}),
    "ort-nncf-onnx": ("onnxruntime", "nncf.onnx", "NNCF on the ONNX graph (QDQ, ModelType.TRANSFORMER)",
                      _nncf_onnx, {}),
    "ort-nncf-onnx-linear": ("onnxruntime", "nncf_linear.onnx", "NNCF on the ONNX graph, the exporter's linear "
                             "layers only (the rest in its ignored scope)", _nncf_onnx_linear, {}),
    "openvino-static-qdq": ("openvino", "static_qdq.onnx", "the exporter's static QDQ graph read by OpenVINO",
                            _static_qdq_exporter, {}),
    "openvino-nncf-onnx": ("openvino", "nncf.onnx", "NNCF on the ONNX graph, read by OpenVINO", _nncf_onnx, {}),
    "openvino-nncf-onnx-linear": ("openvino", "nncf_linear.onnx", "NNCF on the ONNX graph, linear layers only, "
                                  "read by OpenVINO", _nncf_onnx_linear, {}),
    "openvino-nncf-ov": ("openvino", "nncf_ov.xml", "NNCF on OpenVINO's read_model of the graph "
                         "(FakeQuantize IR)", _nncf_openvino, {}),
}
STATIC = {_static_qdq_exporter, _static_qoperator, _nncf_onnx, _nncf_onnx_linear, _nncf_openvino}


def build_candidates(fp32: Path, folder: Path, *, calibration: Sequence[Feeds],
                     names: Sequence[str] = tuple(RECIPES), progress: Callable[[str], None] = print) -> list[Candidate]:
    """Build each named candidate from ``fp32`` into ``folder`` (a file shared by two candidates is built once)."""
    folder.mkdir(parents=True, exist_ok=True)
    built: dict[str, str] = {}  # file name -> error ("" when built)
    candidates = []
    for name in names:
        backend, file_name, description, builder, kwargs = RECIPES[name]
        path = folder / file_name
        if file_name not in built:
            progress(f"building {name} -> {path.name}")
            extra = {"calibration": calibration} if builder in STATIC else {}
            try:
                builder(fp32, path, **kwargs, **extra)
                built[file_name] = ""
            except Exception as failure:  # a candidate that cannot be built is a result too
                built[file_name] = f"{type(failure).__name__}: {str(failure)[:300]}"
        reason = built[file_name]
        candidates.append(Candidate(name=name, backend=backend, description=description,
                                    path="" if reason else str(path), error=reason))
    return candidates
