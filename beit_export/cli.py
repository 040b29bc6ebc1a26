"""``beit-export``: the command line of the exporter.

    beit-export --model MODEL [--random-init] [--task TASK] [--output DIR] [--fp16] [--int8]
                [--tensorrt] [--dynamic-resolution] [--opset 18] [--revision REV] [--overwrite]
    beit-export build-engine ARTIFACT [--graph fp16] [--min-batch 1] [--opt-batch 8] [--max-batch 32]

Exit codes: 0 success, 2 usage error or unusable --model/--output, 3 parity failure, 4 graph check
failure (including TensorRT incompatibility), 5 missing optional dependency (TensorRT, CUDA),
1 any other export error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from beit_runtime.errors import ArtifactError, BackendUnavailableError, BeitDeployError

from .artifact import OutputExistsError
from .errors import GraphCheckError, ModelLoadError, ParityError, UnsupportedCheckpointError

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PARITY, EXIT_GRAPH, EXIT_DEPENDENCY, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 5, 130
TASK_CHOICES = ("backbone", "image-classification", "masked-image-modeling", "semantic-segmentation")
PROG = "beit-export"

_EPILOG = """\
subcommands:
  beit-export build-engine ARTIFACT ...   build a TensorRT engine for an artifact (see build-engine --help)

--model takes a local Hugging Face folder (config.json + model.safetensors or pytorch_model.bin),
a hub id (downloaded and cached; needs network the first time), or, with --random-init, a hub id
that has a built-in preset (works offline) or a local folder's config.json.

exit codes: 0 ok, 2 usage / bad --model or --output, 3 parity failure, 4 graph check failure,
5 missing optional dependency, 1 other export error, 130 interrupted.
"""


def _export_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Export a BEiT/ViT checkpoint to a validated ONNX artifact folder.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--model", required=True, help="local HF folder, hub id, or preset id (with --random-init)")
    add("--random-init", action="store_true", help="build the architecture from its config with random weights")
    add("--task", choices=TASK_CHOICES, help="override the task detected from the architecture")
    add("--output", type=Path, help="artifact folder to create (default: ./NAME-artifact)")
    add("--fp16", action="store_true", help="also write an fp16 graph (LayerNorm/Softmax kept fp32)")
    add("--int8", action="store_true", help="also write an int8 graph")
    add("--int8-mode", choices=("static", "dynamic"), default="static",
        help="static: QDQ calibrated on sample photos (ORT and TensorRT); dynamic: ORT CPU only (default static)")
    add("--tensorrt", action="store_true", help="require TensorRT-compatible graphs and build an engine here")
    add("--dynamic-resolution", action="store_true", help="accept any height/width (position interpolation)")
    add("--opset", type=int, default=18, help="ONNX opset (>= 18; default 18)")
    add("--revision", help="hub revision (branch, tag or commit) for a hub id")
    add("--overwrite", action="store_true", help="replace an existing non-empty --output folder")
    add("--seed", type=int, default=0, help="seed for --random-init weights and parity inputs (default 0)")
    add("--quiet", action="store_true", help="no progress lines on stderr")
    return parser


def _engine_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} build-engine", description="Build a TensorRT engine for an exported artifact (needs a GPU)."
    )
    add = parser.add_argument
    add("artifact", type=Path, help="artifact folder written by beit-export")
    add("--graph", default="fp16", help="graph variant to build from: fp32, fp16 or int8 (default fp16)")
    add("--min-batch", type=int, default=1)
    add("--opt-batch", type=int, default=8)
    add("--max-batch", type=int, default=32)
    add("--workspace-gib", type=float, default=4.0)
    add("--timing-cache", type=Path, help="TensorRT timing cache file to reuse/update")
    for name in ("min", "opt", "max"):
        add(f"--{name}-size", type=_size, metavar="HxW",
            help=f"{name} image size of the optimisation profile (dynamic-resolution artifacts only)")
    add("--device-id", type=int, default=0, help="CUDA device to build on (default 0)")
    return parser


def _size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH such as 224x320, got {text!r}") from None
    return height, width


class _Progress:
    def __init__(self, *, quiet: bool) -> None:
        self.quiet, self.start = quiet, time.monotonic()

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(f"[{PROG} {time.monotonic() - self.start:7.1f}s] {message}", file=sys.stderr, flush=True)


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace | int:
    try:
        return parser.parse_args(list(argv))
    except SystemExit as exit_:  # --help (0) or a usage error (2): return the code, don't exit the caller
        return int(exit_.code or 0)


def _default_output(model: str) -> Path:
    name = Path(model.rstrip("/")).name or "model"
    return Path(f"{name}-artifact")


def _run_export(args: argparse.Namespace) -> int:
    if args.opset < 18:
        print(f"{PROG}: error: --opset {args.opset} is too old: LayerNormalization as one node needs >= 17 and "
              "the exporter is checked at >= 18; use --opset 18", file=sys.stderr)
        return EXIT_USAGE
    from .artifact import check_output
    from .loading import load_checkpoint
    from .parity import format_report
    from .pipeline import export_artifact

    output = check_output(args.output or _default_output(args.model), overwrite=args.overwrite)  # before loading

    progress = _Progress(quiet=args.quiet)
    if args.quiet:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    progress(f"loading {args.model}{' (random weights)' if args.random_init else ''}")
    checkpoint = load_checkpoint(args.model, random_init=args.random_init, revision=args.revision,
                                 task=args.task, seed=args.seed)
    output = export_artifact(
        checkpoint, output=output, fp16=args.fp16, int8=args.int8,
        int8_mode=args.int8_mode, tensorrt=args.tensorrt, dynamic_resolution=args.dynamic_resolution,
        opset=args.opset, overwrite=args.overwrite, seed=args.seed, progress=progress,
    )
    from beit_runtime.manifest import load_manifest

    manifest = load_manifest(output)
    for variant, report in manifest.data["parity"].items():
        print(format_report(report, graph=f"{variant} graph"))
    print(f"wrote {checkpoint.task} artifact to {output} (graphs: {', '.join(manifest.graphs)})")
    return EXIT_OK


def _run_build_engine(args: argparse.Namespace) -> int:
    from .tensorrt_build import build_engine

    path = build_engine(args.artifact, graph_variant=args.graph, min_batch=args.min_batch, opt_batch=args.opt_batch,
                        max_batch=args.max_batch, workspace_gib=args.workspace_gib, timing_cache=args.timing_cache,
                        min_size=args.min_size, opt_size=args.opt_size, max_size=args.max_size,
                        device_id=args.device_id)
    print(f"wrote TensorRT engine {path}")
    return EXIT_OK


def exit_code(error: BaseException) -> int:
    """The exit code an error maps to (see the module docstring)."""
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, ParityError):
        return EXIT_PARITY
    if isinstance(error, GraphCheckError):
        return EXIT_GRAPH
    if isinstance(error, (BackendUnavailableError, ImportError)):
        return EXIT_DEPENDENCY
    if isinstance(error, (ModelLoadError, UnsupportedCheckpointError, ArtifactError, OutputExistsError)):
        return EXIT_USAGE
    return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    engine_mode = bool(argv) and argv[0] == "build-engine"
    args = _parse(_engine_parser() if engine_mode else _export_parser(), argv[1:] if engine_mode else argv)
    if isinstance(args, int):
        return args
    previous = _terminate_as_interrupt()
    try:
        return _run_build_engine(args) if engine_mode else _run_export(args)
    except (BeitDeployError, ImportError, KeyboardInterrupt) as error:
        message = "interrupted; no artifact was written" if isinstance(error, KeyboardInterrupt) else str(error)
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return exit_code(error)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _terminate_as_interrupt():
    """SIGTERM (e.g. a CI timeout) unwinds like Ctrl-C, so the staging folder is removed; returns the old handler."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_interrupt)
