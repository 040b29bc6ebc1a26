"""The graphs the GPU rows run: the artifact's fp32/fp16 graphs plus the fused-attention fp16 graphs
(without and with ``--fused-norms``) and their uint8-input copies, taken from the artifact when it has
them, else written into a work folder with the exporter's own modules
(``beit_export.precision.fused_attention``, ``beit_export.graph.uint8_input``)."""

from __future__ import annotations

from pathlib import Path

from beit_runtime.manifest import load_manifest

FUSED = "fp16-fused"
FUSED_UINT8 = "fp16-fused-uint8"
FUSED_NORMS = "fp16-fused-norms"  # the fp16-fused graph of an export with --fused-norms
PACKED = "fp16-fused-norms-packed"  # that graph with one packed q/k/v projection per block (experiment)


def graph_variants(artifact: Path, *, work: Path, norms: bool = False, packed: bool = False) -> dict[str, Path]:
    """variant -> graph path: fp32, fp16, fp16-fused, fp16-fused-uint8 (+ fp16-fused-norms and its
    uint8 copy with ``norms``, + fp16-fused-norms-packed and its uint8 copy with ``packed``)."""
    from beit_export.graph.uint8_input import write_uint8_input_graph
    from beit_export.precision.fused_attention import convert_to_fused_fp16

    manifest = load_manifest(artifact, verify_files=False)
    graphs = {variant: manifest.graph_path(variant) for variant in ("fp32", "fp16")}
    work.mkdir(parents=True, exist_ok=True)
    if FUSED in manifest.graphs and not manifest.export.fused_norms:
        graphs[FUSED] = manifest.graph_path(FUSED)
    else:
        graphs[FUSED] = work / "model.fp16-fused.onnx"
        convert_to_fused_fp16(graphs["fp32"], graphs[FUSED])
    if FUSED_UINT8 in manifest.graphs and not manifest.export.fused_norms:
        graphs[FUSED_UINT8] = manifest.graph_path(FUSED_UINT8)
    else:
        graphs[FUSED_UINT8] = work / "model.fp16-fused.uint8.onnx"
        write_uint8_input_graph(graphs[FUSED], graphs[FUSED_UINT8], manifest.preprocessing.to_json())
    for wanted, variant in ((norms, FUSED_NORMS), (packed, PACKED)):
        if not wanted:
            continue
        graphs[variant] = work / f"model.{variant}.onnx"
        convert_to_fused_fp16(graphs["fp32"], graphs[variant], fuse_norms=True, pack_qkv=variant == PACKED)
        graphs[f"{variant}-uint8"] = work / f"model.{variant}.uint8.onnx"
        write_uint8_input_graph(graphs[variant], graphs[f"{variant}-uint8"], manifest.preprocessing.to_json())
    return graphs
