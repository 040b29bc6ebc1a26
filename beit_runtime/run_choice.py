"""Which precision and backend a run uses: ``precision="auto"`` resolved through this machine's plan, then the
backend and graph variant for that precision from the backends' table. Decided once per model (``ArtifactModel``)
or folder run (``bulk``), never per call."""

from __future__ import annotations

import dataclasses
from typing import Any

from .engines import backend_for_precision, backend_info
from .manifest import Manifest
from .options import AUTO_PRECISION, RunOptions
from .planning.apply import choose_automatically

# what backend="auto" picks for an ONNX graph (TensorRT is chosen before this when a plan exists). ONNX Runtime
# stays first on CPU: OpenVINO fp32 is at parity but not clearly faster at batch 1 (benchmarks/RESULTS.md).
AUTO_GRAPH_BACKEND = "onnxruntime"



def resolved_options(manifest: Manifest, options: RunOptions) -> tuple[RunOptions, str]:
    """``options`` with precision="auto" replaced by this machine's plan's choice (``planning.apply``), and
    why that precision runs. What a folder run keys its results by, and what each task class runs."""
    if options.precision != AUTO_PRECISION:
        return options, "asked for"
    choice = choose_automatically(manifest, plan=options.plan)
    backend, precision, reason = choice.backend, choice.precision, choice.reason
    if options.backend not in ("auto", backend):
        backend, precision = options.backend, "fp32"
        if choice.planned:  # else ``reason`` says why no plan applies
            reason = f"fp32: the plan chose {choice.precision} on {choice.backend}, but backend={backend!r} was asked"
    return dataclasses.replace(options, precision=precision, backend=backend, plan=None), f"auto: {reason}"


def chosen_backend(manifest: Manifest, options: RunOptions) -> tuple[str, str, dict[str, Any]]:
    """(backend, graph variant, extra engine options) for ``options``' precision (not "auto": see
    ``resolved_options``); decided once, here, from the backends' table (``engines.BACKEND_INFO``)."""
    backend = backend_for_precision(options.precision, options.backend)
    if backend is None:  # "auto", and several backends run the precision
        tensorrt = backend_info("tensorrt")
        backend = "tensorrt" if options.precision in manifest.engines and tensorrt.installed() else AUTO_GRAPH_BACKEND
    info = backend_info(backend)
    return backend, info.graph_for(options.precision), info.engine_options(options.precision)
