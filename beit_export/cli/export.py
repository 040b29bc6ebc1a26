"""``beit-export --model MODEL ...``: export a checkpoint to a validated artifact folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from beit_runtime.exit_codes import EXIT_OK
from beit_runtime.tasks import TASK_NAMES

from ..demo import DEMO_CHECKPOINTS
from ..outputs import ATTENTION_LAYERS_HELP
from .common import PROG, Progress, folder_argument

if TYPE_CHECKING:
    from ..options import ExportOptions

_EPILOG = """\
subcommands:
  beit-export build-engine ARTIFACT ...   build a TensorRT engine for an artifact (see build-engine --help)
  beit-export triton ARTIFACT ...         write a Triton Inference Server model repository (see triton --help)

--model takes a local Hugging Face folder (config.json + model.safetensors or pytorch_model.bin),
a hub id (downloaded and cached; needs network the first time), or, with --random-init, a hub id
that has a built-in preset (works offline) or a local folder's config.json.

exit codes: 0 ok, 2 usage / bad --model or --output, 3 parity failure, 4 graph check failure,
5 missing optional dependency, 1 other export error, 130 interrupted.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Export a BEiT/ViT checkpoint to a validated ONNX artifact folder.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--model", required=True, help="local HF folder, hub id, preset id (with --random-init), or a demo "
        f"checkpoint shipped in the package, offline: {', '.join(DEMO_CHECKPOINTS)}")
    add("--random-init", action="store_true", help="build the architecture from its config with random weights")
    add("--task", choices=TASK_NAMES, help="override the task detected from the architecture")
    add("--output", type=folder_argument, help="artifact folder to create (default: ./NAME-artifact)")
    add("--fp16", action="store_true", help="also write an fp16 graph (LayerNorm/Softmax kept fp32)")
    add("--fused-attention", action="store_true",
        help="also write an fp16 graph with attention fused into MultiHeadAttention (ONNX Runtime CUDA)")
    add("--fused-norms", action="store_true",
        help="with --fused-attention: also fuse residual adds + LayerNorm and bias + GELU (ONNX Runtime's "
             "SkipLayerNormalization/BiasGelu), every op fp16; faster on the GPU, parity-checked the same way")
    add("--uint8-input", action="store_true",
        help="also write uint8-input copies of the float graphs that normalise the pixels themselves")
    add("--int8", action="store_true", help="also write an int8 graph")
    add("--outputs", default=None, metavar="hidden_states,attentions",
        help="also output the stacked hidden states (batch, layers+1, tokens, hidden) and/or attention weights "
             "(batch, layers, heads, tokens, tokens) in every graph; parity-checked like the others")
    add("--attention-layers", default=None, metavar="last|all|N,M", help=ATTENTION_LAYERS_HELP)
    _add_data(add)
    add("--tensorrt", action="store_true", help="require TensorRT-compatible graphs and build an engine here")
    add("--dynamic-resolution", action="store_true", help="accept any height/width (position interpolation)")
    add("--opset", type=int, default=18, help="ONNX opset (>= 18; default 18)")
    add("--revision", help="hub revision (branch, tag or commit) for a hub id")
    add("--overwrite", action="store_true",
        help="replace an earlier artifact at --output (a folder with its manifest.json); any other non-empty folder "
             "is refused")
    add("--seed", type=int, default=0, help="seed for --random-init weights and parity inputs (default 0)")
    add("--quiet", action="store_true", help="no progress lines on stderr")
    return parser


def _add_data(add: Any) -> None:
    """int8 and the user's own images (calibration, parity)."""
    add("--int8-mode", choices=("static", "dynamic"), default=None,
        help="with --int8: static: QDQ calibrated on sample photos (ORT and TensorRT); dynamic: ORT CPU only "
             "(default static)")
    add("--calibration-data", type=Path, default=None,
        help="static int8: calibrate on images in this folder (recursive) instead of the shipped photos")
    add("--calibration-size", type=int, default=256, help="images sampled from --calibration-data (default 256)")
    add("--parity-data", type=Path, default=None,
        help="add images from this folder to the parity cases (default: --calibration-data, when given)")
    add("--parity-size", type=int, default=32, help="images sampled from the parity folder (default 32)")


def export_options(args: argparse.Namespace):
    """The ``ExportOptions`` the arguments ask for (validated here, before any model is loaded)."""
    from ..options import ExportOptions

    return ExportOptions(fp16=args.fp16, int8=args.int8, int8_mode=args.int8_mode, tensorrt=args.tensorrt,
                         dynamic_resolution=args.dynamic_resolution, opset=args.opset, seed=args.seed,
                         overwrite=args.overwrite, fused_attention=args.fused_attention,
                         fused_norms=args.fused_norms, uint8_input=args.uint8_input,
                         calibration_data=args.calibration_data,
                         calibration_size=args.calibration_size, parity_data=args.parity_data,
                         parity_size=args.parity_size, outputs=args.outputs,
                         attention_layers=args.attention_layers)


def _default_output(model: str) -> Path:
    name = Path(model.rstrip("/")).name or "model"
    return Path(f"{name}-artifact")


def _check_inputs(args: argparse.Namespace, options: ExportOptions, progress: Progress):
    """The output folder and the checkpoint's location, checked (and downloaded) before torch is imported."""
    from ..artifact import check_output
    from ..checkpoint import locate_checkpoint
    from ..preflight import check_folder_channels, export_inputs

    output = check_output(args.output or _default_output(args.model), overwrite=options.overwrite,
                          inputs=export_inputs(args.model, options=options))
    if args.quiet:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    progress(f"finding {args.model}")
    location = locate_checkpoint(args.model, random_init=args.random_init, revision=args.revision)
    if location.folder is not None:
        check_folder_channels(location.folder)
    return output, location


def run(args: argparse.Namespace) -> int:
    options = export_options(args)  # option, output-path and hub errors come before torch is imported (seconds)
    progress = Progress(quiet=args.quiet)
    output, location = _check_inputs(args, options, progress)
    from beit_runtime.manifest import load_manifest

    from ..checkpoint import load_located
    from ..parity import format_report
    from ..pipeline import export_artifact

    if args.quiet:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    progress(f"loading {args.model}{' (random weights)' if args.random_init else ''}")
    checkpoint = load_located(location, task=args.task, seed=args.seed)
    output = export_artifact(checkpoint, output=output, options=options, progress=progress)
    manifest = load_manifest(output)
    for variant, report in manifest.parity.items():
        print(format_report(report.to_json(), graph=f"{variant} graph"))
        for engine, record in report.engines.items():
            shown = format_report(record.report.to_json(), graph=f"{variant} graph on {engine}") if record.report else (
                f"parity not measured for {variant} graph on {engine}: {record.reason}")
            print(shown)
    print(f"wrote {checkpoint.task} artifact to {output} (graphs: {', '.join(manifest.graphs)})")
    return EXIT_OK
