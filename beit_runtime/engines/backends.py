"""What each inference backend runs, in one table: every "does backend X run precision Y, and how" reads it.

``BACKEND_INFO[name]`` is a ``BackendInfo``: the graph precisions the backend runs, the precisions that are a way of
running another graph (``RunPrecision``: bf16 is the fp32 graph at bf16 inference precision, on OpenVINO only), the
run options its engine takes, the extra that installs it, what the exporter's parity records say of it, and how
many copies of one layer's attention scores it holds while that layer runs.
``backend_for_precision`` is the one check of which backend runs which precision.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..errors import InputError
from ..manifest import engine_parity_name

GRAPH_PRECISIONS = ("fp32", "fp16", "int8")  # the artifact's graph variants (beit-export --fp16, --int8)


@dataclass(frozen=True)
class RunPrecision:
    """A precision that is a way of running another graph, not a graph of its own."""

    graph: str  # the graph variant that runs
    engine_options: Mapping[str, Any]  # what the engine is loaded with to run it so (e.g. inference_precision)


@dataclass(frozen=True)
class BackendInfo:
    """One backend: what it runs and how it is installed and judged."""

    name: str
    module: str  # what it imports: installed here when this module is found
    extra: str | None  # the beit-deploy extra that installs it (None: beit-deploy itself)
    distributions: tuple[str, ...] = ()  # the pip distributions that provide ``module`` (whose version a plan checks)
    graph_precisions: tuple[str, ...] = GRAPH_PRECISIONS
    run_precisions: Mapping[str, RunPrecision] = field(default_factory=lambda: MappingProxyType({}))
    compared_precisions: tuple[str, ...] = ()  # what evaluate / tune measure on it (none: they do not measure it)
    option_fields: tuple[str, ...] = ()  # the RunOptions fields its engine takes, under their own names
    reads_onnx: bool = True  # runs the ONNX graphs themselves, which the exporter's parity records judge
    parity_reference: bool = False  # its record is the graph's own: the exporter refuses a graph it fails
    kernels_vary_by_isa: bool = False  # its int8 kernels differ per instruction set (``beit_runtime.parity_gate``)
    device_graphs: bool = False  # runs the fused-attention and uint8-input graphs (``beit_runtime.device_input``)
    # one layer's attention scores (batch x heads x tokens^2 float32) it holds at once while that layer runs, measured
    # on the CPU (``beit_export.parity.memory``); None: not bounded this way (TensorRT plans refuse shapes outside
    # their profile). ``beit_runtime.attention_memory`` refuses images whose attention would not fit
    attention_scores_held: float | None = None

    @property
    def precisions(self) -> tuple[str, ...]:
        """Every precision it runs: its graphs', then the ways of running another graph."""
        return (*self.graph_precisions, *self.run_precisions)

    def graph_for(self, precision: str) -> str:
        """The graph variant that runs ``precision`` here."""
        route = self.run_precisions.get(precision)
        return precision if route is None else route.graph

    def engine_options(self, precision: str) -> dict[str, Any]:
        """The engine options ``precision`` needs beside the run options (bf16: inference_precision)."""
        route = self.run_precisions.get(precision)
        return {} if route is None else dict(route.engine_options)

    def parity_name(self, precision: str) -> str:
        """The key of its parity record for ``precision`` (``manifest.engine_parity_name``: "openvino-bf16")."""
        return engine_parity_name(self.name, inference_precision=self.engine_options(precision).get(
            "inference_precision"))

    def installed(self) -> bool:
        return importlib.util.find_spec(self.module) is not None


_THREADS = ("intra_op_threads",)
_BF16 = RunPrecision("fp32", MappingProxyType({"inference_precision": "bf16"}))  # the fp32 graph, bf16 arithmetic
BACKEND_INFO: Mapping[str, BackendInfo] = MappingProxyType({
    "onnxruntime": BackendInfo(
        "onnxruntime", module="onnxruntime", extra=None, distributions=("onnxruntime", "onnxruntime-gpu"),
        compared_precisions=GRAPH_PRECISIONS,
        option_fields=(*_THREADS, "providers", "cuda_graph_batch_sizes"), parity_reference=True, device_graphs=True,
        attention_scores_held=4.0),
    # fp16 graphs run at f32 inference precision on their fp16 weights: never faster than fp32, so not compared
    "openvino": BackendInfo(
        "openvino", module="openvino", extra="openvino", distributions=("openvino",),
        run_precisions=MappingProxyType({"bf16": _BF16}),
        compared_precisions=("fp32", "int8", "bf16"), option_fields=_THREADS, kernels_vary_by_isa=True,
        attention_scores_held=1.2),
    # serialized engines (.plan) built from the graphs by `beit-export build-engine`
    "tensorrt": BackendInfo("tensorrt", module="tensorrt", extra="tensorrt", distributions=("tensorrt",),
                            reads_onnx=False),
})
GRAPH_BACKENDS = tuple(name for name, info in BACKEND_INFO.items() if info.reads_onnx)


def backend_info(name: str) -> BackendInfo:
    """The table's entry of backend ``name``; InputError naming the backends otherwise."""
    if name not in BACKEND_INFO:
        raise InputError(f"backend must be one of {('auto', *BACKEND_INFO)}, got {name!r}")
    return BACKEND_INFO[name]


def backend_for_precision(precision: str, backend: str) -> str | None:
    """The backend that runs ``precision`` when ``backend`` is asked for: ``backend`` itself, or for "auto" the one
    backend that runs it when only one does (bf16: openvino), else None (any). InputError, the one message of this
    rule, when ``backend`` does not run ``precision``."""
    running = [name for name, info in BACKEND_INFO.items() if precision in info.precisions]
    if backend == "auto":
        return running[0] if len(running) == 1 else None
    if backend in running or not running:  # not running anywhere: not a precision (RunOptions names them)
        return backend
    graphs = sorted({BACKEND_INFO[name].graph_for(precision) for name in running})
    named = " or ".join(running)
    raise InputError(f"precision {precision} runs the {'/'.join(graphs)} graph on backend {named} only, not "
                     f"{backend}: choose backend {named} (or auto), or another precision")
