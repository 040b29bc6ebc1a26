"""``beit-export triton ARTIFACT --output REPO ...``: write a Triton Inference Server model repository."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from beit_runtime.exit_codes import EXIT_OK

from .common import PROG, Progress, folder_argument

if TYPE_CHECKING:
    from ..triton import TritonRepositoryOptions
    from ..triton.kubernetes import KubernetesOptions


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
    add("--output", type=folder_argument, required=True,
        help="repository folder to write (staged, renamed when complete)")
    add("--name", help="model name (default: the artifact folder's name)")
    add("--precision", choices=PRECISIONS, default="fp32",
        help="graph variant to serve (default fp32); auto: the serving machine's plan (python backend)")
    add("--plan", type=Path, default=None, help="with --precision auto: a plan file (beit-run tune --plan) to carry")
    add("--fused-attention", action="store_true",
        help="with --precision fp16: serve the fp16-fused graph (export --fp16 --fused-attention; ONNX Runtime's "
             "CUDA provider is what it is for; not with --model-backend tensorrt)")
    add("--model-backend", choices=MODEL_BACKENDS, default="onnxruntime",
        help="what runs the graph: Triton's onnxruntime backend (default), a TensorRT plan of the artifact, or "
             "beit_runtime in the python backend (Triton builds without onnxruntime, e.g. beit-serve --setup's)")
    _add_batching(add, kinds=KINDS)
    _add_limits(add)
    add("--execution-env", help="EXECUTION_ENV_PATH for the python models (a conda-pack archive or venv path, "
                                "may use $$TRITON_MODEL_DIRECTORY; default none: the server's python)")
    add("--no-warmup", dest="warmup", action="store_false",
        help="do not warm each model with a real image before it is ready (Triton's model_warmup; default: warm)")
    add("--overwrite", action="store_true", help="replace --output (and --kubernetes) if it exists")
    _add_kubernetes(parser)
    return parser


def _add_batching(add: Any, *, kinds: tuple[str, ...]) -> None:
    add("--max-batch-size", type=int, default=8, help="largest dynamic batch (default 8)")
    add("--instances", type=int, default=1, help="instances of each model (default 1)")
    add("--kind", choices=kinds, default="cpu", help="where the engine's instances run (default cpu)")
    add("--max-queue-delay-us", type=int, default=2000,
        help="how long a request may wait for a batch to fill (default 2000)")
    add("--preferred-batch-sizes", type=_sizes, default=(), help="batch sizes the batcher aims for, e.g. 4,8")
    add("--intra-op-threads", type=int, default=0,
        help="ONNX Runtime threads per engine instance (default 0: its choice)")


def _add_limits(add: Any) -> None:
    from beit_runtime.attention_memory import SERVED_ATTENTION_BYTES
    from beit_runtime.serving_protocol import DEFAULT_MAX_IMAGE_PIXELS, SEGMENTATION_LOGITS_BYTES

    add("--top-k", type=int, default=5, help="classes returned per image (classification; default 5)")
    add("--max-image-pixels", type=int, default=None, metavar="N",
        help=f"largest image (width x height) the server accepts; larger ones get an InputError (default "
             f"{DEFAULT_MAX_IMAGE_PIXELS:,}: 12 and 24 MP phone photos; for segmentation at most "
             f"{SEGMENTATION_LOGITS_BYTES // 2**30} GiB of float32 logits per image at its size, e.g. "
             f"{SEGMENTATION_LOGITS_BYTES // (4 * 150):,} for 150 classes; for a --dynamic-resolution artifact whose "
             f"recipe keeps each image's size, at most what keeps one image's attention within "
             f"{SERVED_ATTENTION_BYTES // 2**30} GiB on ONNX Runtime, e.g. 855,808 for 12 heads and 16-pixel patches; "
             "--kubernetes measures the memory at it)")


def _add_kubernetes(parser: argparse.ArgumentParser) -> None:
    from ..triton.kubernetes.options import DEFAULT_BASE_IMAGE

    group = parser.add_argument_group(
        "Kubernetes", "with --kubernetes DIR: a docker build context (Dockerfile, the repository) and manifests "
                      "(Deployment, Service, HPA; KServe ServingRuntime + InferenceService) in DIR")
    add = group.add_argument
    add("--kubernetes", type=folder_argument, metavar="DIR", help="folder to write (staged, renamed when complete)")
    add("--image", help="image the manifests run, as `docker build -t` names it (default beit-triton:latest)")
    add("--base-image", help=f"NGC tritonserver image to build on (default {DEFAULT_BASE_IMAGE}: Triton 2.51.0)")
    add("--app-name", help="Kubernetes name of the Deployment, Service, ... (default: from the model name)")
    add("--namespace", help="namespace written into the manifests (default: none, kubectl's)")
    add("--grace-period", type=int, help="seconds beit-serve may take to stop (default 30, at least 6); "
                                         "terminationGracePeriodSeconds = preStop sleep + this + 5")
    add("--prestop-sleep", type=int, help="seconds the preStop hook waits before SIGTERM (default 5)")
    add("--ready-timeout", type=int, help="seconds the models may take to load (default 300)")
    add("--replicas", type=int, help="replicas, the autoscaler's minimum (default 1)")
    add("--max-replicas", type=int, help="the autoscaler's maximum (default 4)")
    add("--cpu-request", help="CPU request per pod, e.g. 1 or 500m (default 1)")
    add("--cpu-target-percent", type=int, help="the autoscaler's CPU utilization target (default 70)")
    add("--memory-request-mib", type=int,
        help="memory request per pod (default: measured on the local Triton of `beit-serve --setup`, +25%%)")
    add("--shm-size-mib", type=int, help="size of the pod's /dev/shm memory volume, at least (default 256; raised "
                                         "to hold max batch x instances of the largest image: see DIR/README.md)")
    add("--gpus", type=int, help="nvidia.com/gpu per pod (default 1 with --kind gpu, else 0)")


_KUBERNETES_FIELDS = {"image": "image", "base_image": "base_image", "app_name": "app_name", "namespace": "namespace",
                      "grace_period": "grace_period_s", "prestop_sleep": "prestop_sleep_s",
                      "ready_timeout": "ready_timeout_s", "replicas": "replicas", "max_replicas": "max_replicas",
                      "cpu_request": "cpu_request", "cpu_target_percent": "cpu_target_percent",
                      "memory_request_mib": "memory_request_mib", "shm_size_mib": "shm_size_mib", "gpus": "gpus"}


def kubernetes_options(args: argparse.Namespace) -> KubernetesOptions | None:
    """KubernetesOptions from the arguments given (None without --kubernetes; an error if some are given then)."""
    from ..triton.kubernetes import KubernetesOptions, KubernetesOptionsError

    given = {field: getattr(args, arg) for arg, field in _KUBERNETES_FIELDS.items() if getattr(args, arg) is not None}
    if args.kubernetes is None:
        if given:
            names = ", ".join(f"--{arg.replace('_', '-')}" for arg in _KUBERNETES_FIELDS
                              if getattr(args, arg) is not None)
            raise KubernetesOptionsError(f"{names} configure the Kubernetes files: add --kubernetes DIR")
        return None
    return KubernetesOptions(**given)


def run(args: argparse.Namespace) -> int:
    from ..triton import TritonRepositoryOptions, write_repository

    options = TritonRepositoryOptions(
        name=args.name, precision=args.precision, model_backend=args.model_backend, max_batch_size=args.max_batch_size,
        instances=args.instances, kind=args.kind, max_queue_delay_us=args.max_queue_delay_us,
        preferred_batch_sizes=args.preferred_batch_sizes, top_k=args.top_k, intra_op_threads=args.intra_op_threads,
        execution_env=args.execution_env, plan=args.plan, warmup=args.warmup, fused_attention=args.fused_attention,
        max_image_pixels=args.max_image_pixels,
    )
    kubernetes = kubernetes_options(args)
    if kubernetes is not None:
        _check_kubernetes_first(args, kubernetes)
    path = write_repository(args.artifact, args.output, options=options, overwrite=args.overwrite,
                            progress=Progress(quiet=False))
    print(f"wrote Triton model repository {path}; serve it with `beit-serve {path}`")
    if kubernetes is not None:
        _write_kubernetes(args, kubernetes, repository=path, repository_options=options)
    return EXIT_OK


def _check_kubernetes_first(args: argparse.Namespace, kubernetes: KubernetesOptions) -> None:
    """What would fail after the repository is written, checked before: DIR overlaps --output or exists, GPUs for
    CPU instances, no server to measure on, no PyYAML to write the manifests with."""
    from ..triton.kubernetes import (
        KubernetesOptionsError,
        check_folders,
        check_gpus,
        require_local_server,
        require_yaml,
    )

    require_yaml()
    if args.execution_env:
        raise KubernetesOptionsError("--execution-env points the python models at an environment of this machine; "
                                     "the image brings its own (/opt/beit/env): drop --execution-env")
    check_folders(args.output, args.kubernetes, overwrite=args.overwrite, artifact=args.artifact)
    check_gpus(kubernetes, kind=args.kind)
    if kubernetes.memory_request_mib is None:
        require_local_server()


def _write_kubernetes(args: argparse.Namespace, kubernetes: KubernetesOptions, *, repository: Path,
                      repository_options: TritonRepositoryOptions) -> None:
    from ..triton.kubernetes import measure, write_kubernetes

    memory = None
    if kubernetes.memory_request_mib is None:
        print("measuring the memory the pods need on the local Triton ...")
        memory = measure(args.artifact, repository, options=repository_options,
                         ready_timeout_s=kubernetes.ready_timeout_s)
        print(f"measured {memory.describe()}")
    folder = write_kubernetes(repository, args.kubernetes, options=kubernetes, memory=memory,
                              overwrite=args.overwrite)
    print(f"wrote the image's build context and the manifests in {folder}; see {folder / 'README.md'}")
