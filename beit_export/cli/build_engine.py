"""``beit-export build-engine ARTIFACT ...``: build a TensorRT engine for an artifact, on the target GPU."""

from __future__ import annotations

import argparse
from pathlib import Path

from beit_runtime.argument_types import non_negative_integer, positive_integer, positive_number
from beit_runtime.exit_codes import EXIT_OK

from .common import PROG, size_argument


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} build-engine", description="Build a TensorRT engine for an exported artifact (needs a GPU)."
    )
    add = parser.add_argument
    add("artifact", type=Path, help="artifact folder written by beit-export")
    add("--graph", default="fp16", help="graph variant to build from: fp32, fp16 or int8 (default fp16)")
    add("--min-batch", type=positive_integer, default=1,
        help="smallest batch the engine accepts (its optimisation profile's minimum; default %(default)s)")
    add("--opt-batch", type=positive_integer, default=8,
        help="batch TensorRT chooses its kernels for, between --min-batch and --max-batch (default %(default)s)")
    add("--max-batch", type=positive_integer, default=32,
        help="largest batch the engine accepts; a larger one needs more GPU memory (default %(default)s)")
    add("--workspace-gib", type=positive_number, default=4.0,
        help="GPU memory in GiB TensorRT may use as scratch space while it builds (default %(default)s)")
    add("--timing-cache", type=Path, help="TensorRT timing cache file to reuse/update")
    for name in ("min", "opt", "max"):
        add(f"--{name}-size", type=size_argument, metavar="HxW",
            help=f"{name} image size of the optimisation profile (dynamic-resolution artifacts only)")
    add("--device-id", type=non_negative_integer, default=0, help="CUDA device to build on (default 0)")
    return parser


def build_options(args: argparse.Namespace):
    """The ``TensorRTBuildOptions`` the arguments ask for (validated when made)."""
    from ..options import ExportOptionsError
    from ..tensorrt import TensorRTBuildOptions

    if not args.min_batch <= args.opt_batch <= args.max_batch:
        raise ExportOptionsError(
            f"batch sizes must satisfy --min-batch <= --opt-batch <= --max-batch, got {args.min_batch}, "
            f"{args.opt_batch}, {args.max_batch}"
        )
    return TensorRTBuildOptions(
        graph_variant=args.graph, min_batch=args.min_batch, opt_batch=args.opt_batch, max_batch=args.max_batch,
        workspace_gib=args.workspace_gib, timing_cache=args.timing_cache, min_size=args.min_size,
        opt_size=args.opt_size, max_size=args.max_size, device_id=args.device_id,
    )


def run(args: argparse.Namespace) -> int:
    from ..tensorrt import build_engine

    path = build_engine(args.artifact, options=build_options(args))
    print(f"wrote TensorRT engine {path}")
    return EXIT_OK
