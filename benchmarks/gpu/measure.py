"""Measure the GPU rows of issue 21 and write them as one JSON (run on the GPU machine by device.sh).

Usage: ``python -m benchmarks.gpu.measure --classifier ART --segmenter ART --out DIR [--dry-run]``.
The classifier artifact needs fp32 and fp16 graphs; the fused-attention fp16 graph and the uint8-input
graphs are taken from the artifact when it has them, else written into ``--work`` here with the
exporter's own modules. ``--dry-run`` runs everything that needs no CUDA on the CPU provider, with few
iterations and no PyTorch rows (the tests run it on tiny artifacts). Results are written after each
stage, so a run cut short still leaves what it measured.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

from beit_runtime.manifest import load_manifest
from beit_runtime.preprocess import Preprocessor
from beit_runtime.tasks import task as registry_task

from .end_to_end import end_to_end_rows
from .ort_rows import MODES, mode_rows, parity_figures, pixel_feeds, variant_outputs
from .segmentation_rows import segmentation_rows
from .variants import graph_variants

RESULTS_FILE = "gpu_results.json"
CUDA = ["CUDAExecutionProvider"]
CPU = ["CPUExecutionProvider"]


def environment() -> dict[str, Any]:
    import onnxruntime

    info = {"onnxruntime": onnxruntime.__version__, "providers": onnxruntime.get_available_providers(),
            "python": platform.python_version(), "machine": platform.machine()}
    try:
        import torch

        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        info["torch"] = None
    return info


class Results:
    """The JSON document, rewritten after every stage."""

    def __init__(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.path = out / RESULTS_FILE
        self.data: dict[str, Any] = {"environment": environment(), "stages": {}}

    def add(self, stage: str, value: Any, *, started: float) -> None:
        self.data["stages"][stage] = {"seconds": round(time.monotonic() - started, 1), "value": value}
        self.path.write_text(json.dumps(self.data, indent=1, default=str))


def _parity(graphs: dict[str, Path], artifact: Path, *, providers: list[str], model: Any) -> dict[str, Any]:
    manifest = load_manifest(artifact, verify_files=False)
    spec = registry_task(manifest.task)
    with_batch = {"batch": 8}
    from beit_runtime.engines import load_engine

    with load_engine(graphs["fp32"], providers=CPU) as engine:
        feeds = pixel_feeds(engine, **with_batch, seed=7)
        reference = engine.run(feeds) if model is None else None
    if model is not None:
        from .torch_rows import reference_outputs

        reference = reference_outputs(model, feeds, output_names=spec.output_names)
    assert reference is not None
    figures = {}
    for variant, graph in graphs.items():
        if "uint8" in variant:
            continue
        precision = "fp32" if variant == "fp32" else "fp16"
        outputs = variant_outputs(graph, feeds, providers=providers)
        figures[variant] = parity_figures(outputs, reference, task=manifest.task, precision=precision)
    return {"reference": "ORT CPU fp32 graph" if model is None else "PyTorch fp32 on the GPU (TF32 off)",
            "inputs": "8 random N(0,1) images", "variants": figures}


def classifier_stages(args: argparse.Namespace, results: Results, *, deadline: float) -> None:
    providers = CPU if args.dry_run else CUDA
    batch_sizes = (1, 2) if args.dry_run else (1, 8, 32)
    started = time.monotonic()
    variants = args.variants.split(",")
    graphs = graph_variants(args.classifier, work=args.work / "classifier",
                            norms=any("norms" in variant for variant in variants),
                            packed=any("packed" in variant for variant in variants))
    results.add("classifier_graphs", {k: str(v) for k, v in graphs.items()}, started=started)
    model = None
    if not args.dry_run:
        from .torch_rows import load_model

        model = load_model(args.classifier_model, task="image-classification")
    started = time.monotonic()
    results.add("classifier_parity", _parity(graphs, args.classifier, providers=providers, model=model),
                started=started)
    _classifier_ort_rows(args, graphs, results, providers=providers, batch_sizes=batch_sizes)
    preprocessor = Preprocessor.from_manifest(load_manifest(args.classifier, verify_files=False))
    if args.end_to_end:
        _classifier_end_to_end(args, graphs, preprocessor, results, providers=providers, batch_sizes=batch_sizes)
    if args.kernel_profile and not args.dry_run:
        started = time.monotonic()
        results.add("classifier_kernels", _kernels(graphs, args.kernel_profile.split(",")), started=started)
    if model is not None:
        from .torch_rows import torch_rows

        started = time.monotonic()
        shape = (3, *preprocessor.output_size(224, 224))
        compile_batches = tuple(int(b) for b in args.compile_batches.split(",") if b)
        results.add("classifier_torch", torch_rows(model, batch_sizes=batch_sizes, shape=shape,
                                                   compile_batch_sizes=compile_batches, deadline=deadline),
                    started=started)


def _classifier_ort_rows(args: argparse.Namespace, graphs: dict[str, Path], results: Results, *,
                         providers: list[str], batch_sizes: tuple[int, ...]) -> None:
    """One row per variant x mode x batch size (CUDA graphs only on the GPU), saved after each variant."""
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    for variant in args.variants.split(","):
        for mode in args.modes.split(","):
            if mode == "cudagraph" and args.dry_run:
                continue
            rows += mode_rows(graphs[variant], variant=variant, mode=mode, providers=providers,
                              batch_sizes=batch_sizes, dry_run=args.dry_run)
            results.add("classifier_ort", rows, started=started)


def _classifier_end_to_end(args: argparse.Namespace, graphs: dict[str, Path], preprocessor: Preprocessor,
                           results: Results, *, providers: list[str], batch_sizes: tuple[int, ...]) -> None:
    """Images in, labels out through the public API, on the best graph that has a uint8-input twin."""
    started = time.monotonic()
    best = "fp16-fused-norms" if "fp16-fused-norms-uint8" in graphs else "fp16-fused"
    options = {"providers": providers, "io_binding": True}
    rows_e2e = end_to_end_rows(graphs[best], graphs[f"{best}-uint8"], preprocessor, options=options,
                               batch_sizes=batch_sizes, dry_run=args.dry_run)
    results.add("classifier_end_to_end", {**rows_e2e, "graph": best}, started=started)


def _kernels(graphs: dict[str, Path], variants: list[str]) -> dict[str, Any]:
    from beit_runtime.engines import load_engine

    from .kernels import kernel_breakdown

    breakdown = {}
    for variant in variants:
        with load_engine(graphs[variant], providers=CUDA, io_binding=True) as engine:
            feeds = pixel_feeds(engine, batch=32)
            breakdown[f"{variant} b32 iobound"] = kernel_breakdown(lambda e=engine, f=feeds: e.run(f))
    return breakdown


def segmentation_stage(args: argparse.Namespace, results: Results) -> None:
    manifest = load_manifest(args.segmenter, verify_files=False)
    variants = args.segmentation_variants.split(",")
    graphs = graph_variants(args.segmenter, work=args.work / "segmenter",
                            norms=any("norms" in variant for variant in variants),
                            packed=any("packed" in variant for variant in variants))
    size = (manifest.input.height, manifest.input.width)
    rows = []
    started = time.monotonic()
    for variant in variants:
        rows += segmentation_rows(graphs[variant], manifest.graph_path("postprocess"), variant=variant,
                                  providers=CPU if args.dry_run else CUDA, size=size,
                                  cuda_graphs=not args.dry_run, dry_run=args.dry_run)
        results.add("segmentation_640", rows, started=started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classifier", type=Path, required=True, help="image-classification artifact (fp32+fp16)")
    parser.add_argument("--segmenter", type=Path, help="semantic-segmentation artifact (fp16 graph + postprocess)")
    parser.add_argument("--classifier-model", default="microsoft/beit-base-patch16-224",
                        help="the preset the classifier was exported from (random-init, seed 0) for PyTorch rows")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path("/tmp/gpu-work"))
    parser.add_argument("--budget-s", type=float, default=420.0, help="stop starting PyTorch compile rows after this")
    parser.add_argument("--dry-run", action="store_true", help="CPU provider, few iterations, no PyTorch rows")
    parser.add_argument("--variants", default="fp16-fused,fp16-fused-norms,fp16-fused-norms-uint8,"
                        "fp16-fused-norms-packed,fp16-fused-norms-packed-uint8",
                        help="classifier graph variants to time (also fp32, fp16, fp16-fused-uint8)")
    parser.add_argument("--segmentation-variants", default="fp16-fused,fp16-fused-norms,fp16-fused-norms-packed",
                        help="segmentation graph variants to time (also fp16)")
    parser.add_argument("--modes", default=",".join(MODES), help=f"I/O modes to time, from {MODES}")
    parser.add_argument("--no-end-to-end", dest="end_to_end", action="store_false",
                        help="skip the decoded-photos rows")
    parser.add_argument("--kernel-profile", default="", help="variants whose b32 CUDA kernels are broken down")
    parser.add_argument("--compile-batches", default="1,32,8", help="batch sizes of the torch.compile rows")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.budget_s
    if not args.dry_run:
        import onnxruntime

        onnxruntime.preload_dlls()  # CUDA/cuDNN from the nvidia-* wheels PyTorch brought
    results = Results(args.out)
    print(json.dumps(results.data["environment"]), flush=True)
    if args.segmenter is not None:  # first: the goal figure that needs the least time
        segmentation_stage(args, results)
    classifier_stages(args, results, deadline=deadline)
    print(f"[gpu] wrote {results.path}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
