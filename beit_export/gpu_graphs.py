"""Graph variants for ONNX Runtime's CUDA provider, written after the fp32/fp16/int8 graphs when asked for.

* ``--fused-attention``: ``fp16-fused`` (``model.fp16-fused.onnx``): the fp16 graph's precision rules with
  each self-attention block as one com.microsoft.MultiHeadAttention node (relative position bias as
  attention_bias, q/k/v biases as its bias input) and layer scales folded into their linear layers;
  held to the fp16 tolerances against PyTorch like the fp16 graph. ONNX Runtime only (no TensorRT, no
  OpenVINO: the node is an ONNX Runtime contrib op). With ``--fused-norms`` the same graph is built
  with ONNX Runtime's SkipLayerNormalization/BiasGelu fusions and every op in fp16 (the residual stream
  is fp16; LayerNorm statistics and softmax still accumulate in fp32 inside the kernels), held to the
  same tolerances.
* ``--uint8-input``: a ``<variant>-uint8`` copy of each float model graph written (fp32, fp16,
  fp16-fused) taking uint8 ``pixels`` (NHWC) and normalising them in the graph with the runtime's own
  per-level table (``graph.uint8_input``). Checked here to give exactly the outputs of its source graph
  fed by the CPU normalisation (ONNX Runtime CPU, random images); the check's figure goes in its notes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from beit_runtime.device_input import FUSED_VARIANT

from .artifact import graph_entry
from .errors import ParityError
from .graph.uint8_input import LAYOUTS, UINT8_INPUT, normalisation_table, write_uint8_input_graph
from .parity import check_parity
from .precision.fused_attention import convert_to_fused_fp16

UINT8_SOURCES = ("fp32", "fp16", FUSED_VARIANT)
GPU_VARIANT_FILES = {FUSED_VARIANT: "model.fp16-fused.onnx", "fp32-uint8": "model.uint8.onnx",
                     "fp16-uint8": "model.fp16.uint8.onnx", "fp16-fused-uint8": "model.fp16-fused.uint8.onnx"}
ONNXRUNTIME_ONLY = (FUSED_VARIANT, "fp16-fused-uint8")


def write_fused_attention(state: Any) -> None:
    """The ``fp16-fused`` graph, its record and its parity (fp16 tolerances, ONNX Runtime CPU vs PyTorch)."""
    file, norms = GPU_VARIANT_FILES[FUSED_VARIANT], state.options.fused_norms
    fusions = "attention fused into MultiHeadAttention" + (", LayerNorm/GELU fusions" if norms else "")
    state.progress(f"writing the {FUSED_VARIANT} graph ({fusions})")
    report = convert_to_fused_fp16(state.folder / "model.onnx", state.folder / file, fuse_norms=norms)
    state.graphs[FUSED_VARIANT] = graph_entry(state.folder, file, precision="fp16", opset=state.options.opset,
                                              notes=str(report["notes"]))
    state.progress(f"parity check of the {FUSED_VARIANT} graph on ONNX Runtime vs PyTorch ({len(state.cases)} cases)")
    state.parity[FUSED_VARIANT] = check_parity(state.folder / file, state.checkpoint, precision="fp16",
                                               cases=state.cases, shown_as=state.output / file)
    state.parity[FUSED_VARIANT]["conversion"] = {k: v for k, v in report.items() if k != "notes"}


def write_uint8_inputs(state: Any, *, layout: str = "nhwc") -> None:
    """A uint8-input copy of every float model graph written so far, each checked against its source."""
    for source in [variant for variant in UINT8_SOURCES if variant in state.graphs]:
        variant, file = f"{source}-uint8", GPU_VARIANT_FILES[f"{source}-uint8"]
        state.progress(f"writing the {variant} graph (uint8 {layout.upper()} pixels, normalised in the graph)")
        source_file = state.folder / state.graphs[source].file
        report = write_uint8_input_graph(source_file, state.folder / file, state.checkpoint.preprocessing,
                                         layout=layout)
        drift = uint8_drift(source_file, state.folder / file, state.checkpoint.preprocessing, layout=layout)
        if drift != 0.0:
            raise ParityError(f"the {variant} graph differs from the {source} graph fed by the CPU normalisation "
                              f"(max |difference| {drift:.3g}, expected 0); export without --uint8-input and "
                              "report this", report={"max_abs": drift})
        notes = f"{report['notes']}; outputs equal to the {source} graph's on ONNX Runtime CPU (max |diff| 0)"
        state.graphs[variant] = graph_entry(state.folder, file, precision=state.graphs[source].precision,
                                            opset=state.options.opset, notes=notes)


def uint8_drift(float_graph: Path, uint8_graph: Path, preprocessing: Any, *, layout: str = "nhwc",
                images: int = 2, seed: int = 0) -> float:
    """max |difference| of the outputs: the float graph on table-normalised random images vs the uint8 graph."""
    from beit_runtime.engines import load_engine

    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}")
    table = normalisation_table(preprocessing)
    with load_engine(float_graph, providers=["CPUExecutionProvider"]) as engine, \
            load_engine(uint8_graph, providers=["CPUExecutionProvider"]) as uint8_engine:
        spec = engine.input_spec("pixel_values")
        height, width = (d if isinstance(d, int) and d > 0 else 32 for d in spec.shape[2:])
        pixels = np.random.default_rng(seed).integers(0, 256, (images, height, width, 3), dtype=np.uint8)
        normalised = np.stack([table[channel][pixels[..., channel]] for channel in range(3)], axis=1)
        extra = {s.name: np.zeros([images, *(d for d in s.shape[1:])], s.dtype) for s in engine.inputs
                 if s.name != "pixel_values"}
        expected = engine.run({"pixel_values": normalised.astype(np.float32), **extra})
        fed = pixels if layout == "nhwc" else np.ascontiguousarray(pixels.transpose(0, 3, 1, 2))
        got = uint8_engine.run({UINT8_INPUT: fed, **extra})
    return max(float(np.max(np.abs(expected[name].astype(np.float64) - got[name].astype(np.float64))))
               for name in expected)
