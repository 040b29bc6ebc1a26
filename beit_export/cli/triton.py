"""``beit-export triton ARTIFACT --output REPO ...``: write a Triton Inference Server model repository."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import PROG


def _sizes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.replace(",", " ").split())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected batch sizes such as 4,8, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    from ..triton.options import KINDS, MODEL_BACKENDS, PRECISIONS

    parser = argparse.ArgumentParser(
        prog=f"{PROG} triton",
        description="Write a Triton Inference Server model repository for an artifact: NAME (the ensemble: encoded "
                    "image in, the task's outputs out), NAME_preprocess, NAME_engine, NAME_postprocess. Serve it with "
                    "`beit-serve REPO` or any tritonserver.",
    )
    add = parser.add_argument
    add("artifact", type=Path, help="artifact folder written by beit-export")
    add("--output", type=Path, required=True, help="repository folder to write (staged, renamed when complete)")
    add("--name", help="model name (default: the artifact folder's name)")
    add("--precision", choices=PRECISIONS, default="fp32",
        help="graph variant to serve (default fp32); auto: the serving machine's plan (python backend)")
    add("--plan", type=Path, default=None, help="with --precision auto: a plan file (beit-run tune --plan) to carry")
    add("--model-backend", choices=MODEL_BACKENDS, default="onnxruntime",
        help="what runs the graph: Triton's onnxruntime backend (default), a TensorRT plan of the artifact, or "
             "beit_runtime in the python backend (Triton builds without onnxruntime, e.g. beit-serve --setup's)")
    add("--max-batch-size", type=int, default=8, help="largest dynamic batch (default 8)")
    add("--instances", type=int, default=1, help="instances of each model (default 1)")
    add("--kind", choices=KINDS, default="cpu", help="where the engine's instances run (default cpu)")
    add("--max-queue-delay-us", type=int, default=2000,
        help="how long a request may wait for a batch to fill (default 2000)")
    add("--preferred-batch-sizes", type=_sizes, default=(), help="batch sizes the batcher aims for, e.g. 4,8")
    add("--top-k", type=int, default=5, help="classes returned per image (classification; default 5)")
    add("--intra-op-threads", type=int, default=0,
        help="ONNX Runtime threads per engine instance (default 0: its choice)")
    add("--execution-env", help="EXECUTION_ENV_PATH for the python models (a conda-pack archive or venv path, "
                                "may use $$TRITON_MODEL_DIRECTORY; default none: the server's python)")
    add("--overwrite", action="store_true", help="replace --output if it exists")
    return parser


def run(args: argparse.Namespace) -> int:
    from ..triton import TritonRepositoryOptions, write_repository

    options = TritonRepositoryOptions(
        name=args.name, precision=args.precision, model_backend=args.model_backend, max_batch_size=args.max_batch_size,
        instances=args.instances, kind=args.kind, max_queue_delay_us=args.max_queue_delay_us,
        preferred_batch_sizes=args.preferred_batch_sizes, top_k=args.top_k, intra_op_threads=args.intra_op_threads,
        execution_env=args.execution_env, plan=args.plan,
    )
    path = write_repository(args.artifact, args.output, options=options, overwrite=args.overwrite)
    print(f"wrote Triton model repository {path}; serve it with `beit-serve {path}`")
    return 0
