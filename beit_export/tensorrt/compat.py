"""Static TensorRT-compatibility check of an ONNX graph: runs on CPU, needs no TensorRT.

It checks what the TensorRT ONNX parser documents (``ops.json``, taken from onnx-tensorrt's
``docs/operators.md``): every op is in the supported-operator table, the opset is in the parser's
range, the documented attribute restrictions hold (Resize modes, TopK, ArgMax, pooling, Q/DQ zero
points, LayerNormalization outputs, constant axes), tensor types are ones TensorRT has, and INT64
tensors appear only in shape computations (TensorRT casts INT64 weights down with warnings; index
building from data in INT64 is a known source of failures).

``tensorrt_compatibility_report`` returns the findings; ``check_tensorrt_compatibility`` raises
``TensorRTCompatibilityError`` when there are any. Dynamically quantized int8 graphs
(DynamicQuantizeLinear/MatMulInteger) are reported as not for TensorRT: build engines from the fp16
or static QDQ int8 graph instead.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import lru_cache
from pathlib import Path

import onnx

from ..errors import TensorRTCompatibilityError
from ..graph import load_graph
from .rules import attribute_errors, classify_int64, dtype_findings

_TABLE = Path(__file__).with_name("ops.json")
_DEFAULT_DOMAINS = ("", "ai.onnx")


@lru_cache(maxsize=1)
def supported_operator_table() -> dict:
    """The TensorRT ONNX parser's operator table (with its source) as stored in ops.json."""
    return json.loads(_TABLE.read_text(encoding="utf-8"))


def _target(target: str) -> dict:
    targets = supported_operator_table()["targets"]
    if str(target) not in targets:
        raise TensorRTCompatibilityError(f"unknown TensorRT target {target!r}; expected one of {sorted(targets)}")
    return targets[str(target)]


def _all_nodes(graph: onnx.GraphProto):
    for node in graph.node:
        yield node
        for attribute in node.attribute:
            subgraphs = list(attribute.graphs) + ([attribute.g] if attribute.HasField("g") else [])
            for subgraph in subgraphs:
                yield from _all_nodes(subgraph)


def _opset(model: onnx.ModelProto) -> int:
    versions = [entry.version for entry in model.opset_import if entry.domain in _DEFAULT_DOMAINS]
    return max(versions) if versions else 0


def _op_findings(model: onnx.ModelProto) -> tuple[Counter, dict[str, list[str]]]:
    table = supported_operator_table()
    supported = set(table["supported"])
    counts: Counter = Counter()
    unsupported: dict[str, list[str]] = {}
    for node in _all_nodes(model.graph):
        key = node.op_type if node.domain in _DEFAULT_DOMAINS else f"{node.domain}::{node.op_type}"
        counts[key] += 1
        if key not in supported:
            unsupported.setdefault(key, []).append(node.name or node.op_type)
    return counts, unsupported


def _opset_errors(opset: int, limits: dict, target: str) -> list[str]:
    if limits["opset_min"] <= opset <= limits["opset_max"]:
        return []
    return [
        f"opset {opset} is outside TensorRT {target}'s parser range {limits['opset_min']}-{limits['opset_max']}; "
        "re-export with --opset 18"
    ]


def tensorrt_compatibility_report(model: onnx.ModelProto | str | Path, *, target: str = "10") -> dict:
    """Every finding that would stop the TensorRT ``target`` ONNX parser; ``compatible`` says if none."""
    from ..precision import is_dynamic_int8  # imports onnxruntime, which `build-engine`'s usage errors need not

    model = load_graph(model)
    limits = _target(target)
    opset = _opset(model)
    counts, unsupported = _op_findings(model)
    errors = _opset_errors(opset, limits, target)
    errors.extend(
        f"op {op} is not supported by the TensorRT {target} ONNX parser ({len(nodes)} nodes, e.g. {nodes[0]})"
        for op, nodes in sorted(unsupported.items())
    )
    errors.extend(attribute_errors(model))
    int64 = classify_int64(model)
    errors.extend(
        f"INT64 tensor '{name}' carries data, not a shape computation; TensorRT would cast it to INT32"
        for name in int64["data"]
    )
    dtype_errors, warnings = dtype_findings(model)
    errors.extend(dtype_errors)
    not_for_tensorrt = None
    if is_dynamic_int8(model):
        not_for_tensorrt = (
            "dynamically quantized int8 graph (DynamicQuantizeLinear/MatMulInteger): ONNX Runtime only; "
            "build TensorRT engines from the fp16 graph or a static QDQ int8 graph"
        )
    return {
        "compatible": not errors and not_for_tensorrt is None,
        "target": str(target),
        "opset": opset,
        "opset_range": [limits["opset_min"], limits["opset_max"]],
        "op_counts": dict(sorted(counts.items())),
        "unsupported_ops": unsupported,
        "int64": {key: len(value) if key != "data" else value for key, value in int64.items()},
        "not_for_tensorrt": not_for_tensorrt,
        "errors": errors,
        "warnings": warnings,
        "source": supported_operator_table()["source"],
    }


def check_tensorrt_compatibility(model: onnx.ModelProto | str | Path, *, target: str = "10") -> dict:
    """Return the report when the graph is fit for TensorRT ``target``; raise TensorRTCompatibilityError otherwise."""
    report = tensorrt_compatibility_report(model, target=target)
    if report["compatible"]:
        return report
    lines = list(report["errors"])
    if report["not_for_tensorrt"]:
        lines.insert(0, report["not_for_tensorrt"])
    shown = "\n  - ".join(lines[:20])
    more = f"\n  ... and {len(lines) - 20} more" if len(lines) > 20 else ""
    error = TensorRTCompatibilityError(f"graph is not compatible with TensorRT {target}:\n  - {shown}{more}")
    error.report = report
    raise error
