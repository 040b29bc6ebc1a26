"""The graphs the GPU rows run: the artifact's fp32/fp16 graphs plus the fused-attention fp16 graph and
its uint8-input copy, taken from the artifact when it has them, else written into a work folder with the
exporter's own modules (``beit_export.precision.fused_attention``, ``beit_export.graph.uint8_input``)."""

from __future__ import annotations

from pathlib import Path

from beit_runtime.manifest import load_manifest

FUSED = "fp16-fused"
FUSED_UINT8 = "fp16-fused-uint8"
FUSED_NORMS = "fp16-fused-norms"  # + ONNX Runtime's LayerNorm/GELU fusions, fp16 residual stream (experiment)


def graph_variants(artifact: Path, *, work: Path, norms: bool = False) -> dict[str, Path]:
    """variant -> graph path: fp32, fp16, fp16-fused, fp16-fused-uint8 (+ fp16-fused-norms and its
    uint8 copy with ``norms``)."""
    from beit_export.graph.uint8_input import write_uint8_input_graph
    from beit_export.precision.fused_attention import convert_to_fused_fp16

    manifest = load_manifest(artifact, verify_files=False)
    graphs = {variant: manifest.graph_path(variant) for variant in ("fp32", "fp16")}
    work.mkdir(parents=True, exist_ok=True)
    if FUSED in manifest.graphs:
        graphs[FUSED] = manifest.graph_path(FUSED)
    else:
        graphs[FUSED] = work / "model.fp16-fused.onnx"
        convert_to_fused_fp16(graphs["fp32"], graphs[FUSED])
    if FUSED_UINT8 in manifest.graphs:
        graphs[FUSED_UINT8] = manifest.graph_path(FUSED_UINT8)
    else:
        graphs[FUSED_UINT8] = work / "model.fp16-fused.uint8.onnx"
        write_uint8_input_graph(graphs[FUSED], graphs[FUSED_UINT8], manifest.preprocessing.to_json())
    if norms:
        graphs[FUSED_NORMS] = work / "model.fp16-fused-norms.onnx"
        convert_to_fused_fp16(graphs["fp32"], graphs[FUSED_NORMS], fuse_norms=True)
        graphs[f"{FUSED_NORMS}-uint8"] = work / "model.fp16-fused-norms.uint8.onnx"
        write_uint8_input_graph(graphs[FUSED_NORMS], graphs[f"{FUSED_NORMS}-uint8"],
                                manifest.preprocessing.to_json())
    return graphs
