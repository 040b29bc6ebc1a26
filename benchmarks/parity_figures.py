"""README's parity and accuracy figures, measured here with the real code paths (nothing typed by hand).

Exports with ``beit_export.pipeline.export_artifact`` (what ``beit-export`` runs) and reads every parity
figure from the artifact's manifest, where the exporter records it per variant, case and engine:

- ``base-224``: ``microsoft/beit-base-patch16-224 --random-init --fp16 --int8`` (fixed resolution; fp32,
  fp16 and static QDQ int8 against PyTorch);
- ``base-224-dynamic``: the same preset with ``--dynamic-resolution --int8 --int8-mode dynamic`` (fp32 at
  the extra resolutions, dynamic int8);
- ``ade-640``: ``microsoft/beit-base-finetuned-ade-640-640 --random-init`` (BEiT-base + UperNet at 640, fp32);
- ``demo-segmentation``: the shipped ``beit-deploy/demo-segmentation`` with ``--int8`` (static QDQ, head
  convolutions included), then run through ``beit_runtime.Segmenter`` on 40 fresh procedural scenes
  (the scenes and seeds of tests/runtime/test_demo_miou.py): mIoU per engine (``beit_export.demo.metrics``)
  and the share of labels equal to fp32's. On a CPU beyond AVX2, OpenVINO int8 also runs in a child with
  oneDNN capped at AVX2 (``ONEDNN_MAX_CPU_ISA=AVX2``), as the exporter's ``openvino-avx2`` record does.

``python -m benchmarks.parity_figures [--quick] [--write-results [PATH]]``. ``--quick``: the benchmarks'
tiny in-process models (``benchmarks.workload.tiny``) and 4 scenes, a smoke test of seconds. Not a timing
benchmark: other jobs on the machine change no figure. ``python -m benchmarks.report --readme`` then writes
README's parity block from RESULTS-parity.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_RESULTS = Path(__file__).with_name("RESULTS-parity.json")
BASE = "microsoft/beit-base-patch16-224"
ADE = "microsoft/beit-base-finetuned-ade-640-640"
SCENE_SEED = 20_000  # tests/runtime/test_demo_miou.py's EVAL_SEED: seeds the demo training never drew from
SCENE_SIZES = ((96, 96), (128, 128), (160, 224), (256, 144), None)  # None: random sizes in [96, 256]
SCENES_PER_SIZE = 8
QUICK_SCENES = ((64, 64),)
_ENGINE_ROWS = (("fp32", "onnxruntime", None), ("int8", "onnxruntime", None), ("int8", "openvino", None),
                ("int8", "openvino", "AVX2"))


def _log(text: str) -> None:
    print(f"[parity-figures] {text}", file=sys.stderr, flush=True)


def export_jobs(*, quick: bool) -> dict[str, tuple[str, bool, dict[str, Any]]]:
    """name -> (model, random init, ExportOptions fields)."""
    from beit_export.demo import DEMO_MODEL_ID

    base, ade, demo = ("tiny-beit", "tiny-beit-seg", "tiny-beit-seg") if quick else (BASE, ADE, DEMO_MODEL_ID)
    return {
        "base-224": (base, True, {"fp16": True, "int8": True}),
        "base-224-dynamic": (base, True, {"dynamic_resolution": True, "int8": True, "int8_mode": "dynamic"}),
        "ade-640": (ade, True, {}),
        "demo-segmentation": (demo, False, {"int8": True}),
    }


def _checkpoint(model: str, *, random_init: bool):
    from benchmarks.workload.tiny import TINY_MODELS, tiny_checkpoint

    if model in TINY_MODELS:
        return tiny_checkpoint(model)
    from beit_export.checkpoint import load_checkpoint
    from beit_export.demo import DEMO_CHECKPOINTS, checkpoint_dir

    return load_checkpoint(str(checkpoint_dir(model)) if model in DEMO_CHECKPOINTS else model, random_init=random_init)


def trim_record(record: dict[str, Any]) -> dict[str, Any]:
    """A manifest parity record without tolerances and node lists: the figures, per case and per engine."""
    trimmed = {"passed": record["passed"], "backend": record.get("backend"), "outputs": record.get("outputs", {}),
               "cases": {case["name"]: {name: {k: v for k, v in figures.items() if k != "passed"}
                                        for name, figures in case["outputs"].items()}
                         for case in record.get("cases", [])},
               "engines": {name: {"measured": engine.get("measured", True), "passed": engine.get("passed"),
                                  "outputs": engine.get("outputs", {})}
                           for name, engine in (record.get("engines") or {}).items()}}
    conversion = record.get("conversion") or {}
    keep = ("method", "head_convolutions", "quantized_convolutions", "float_convolutions", "weight_type")
    if record.get("precision") == "int8":
        trimmed["conversion"] = {k: conversion[k] for k in keep if k in conversion}
    return trimmed


def export_one(name: str, job: tuple[str, bool, dict[str, Any]], *, workdir: Path) -> tuple[Path, dict[str, Any]]:
    """Export one job; its artifact folder and its entry for the results (the manifest's parity records)."""
    from beit_export.options import ExportOptions
    from beit_export.pipeline import export_artifact
    from beit_runtime.manifest import load_manifest

    model, random_init, fields = job
    _log(f"exporting {name}: {model}{' (random init)' if random_init else ''} {fields}")
    began = time.perf_counter()
    checkpoint = _checkpoint(model, random_init=random_init)
    artifact = export_artifact(checkpoint, output=workdir / name, options=ExportOptions(**fields),
                               progress=lambda text: _log(f"  {name}: {text}"))
    parity = load_manifest(artifact, verify_files=False).to_json()["parity"]
    entry = {"model": model, "random_init": random_init, "options": fields,
             "wall_s": round(time.perf_counter() - began, 1),
             "parity": {variant: trim_record(record) for variant, record in parity.items()}}
    return artifact, entry


def scenes(*, quick: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    from beit_export.demo.scenes import generate_scenes

    sizes, count = (QUICK_SCENES, 4) if quick else (SCENE_SIZES, SCENES_PER_SIZE)
    return [scene for index, size in enumerate(sizes)
            for scene in generate_scenes(count, seed=SCENE_SEED + index, size=size)]


def segment_labels(artifact: Path, *, precision: str, backend: str, quick: bool) -> list[np.ndarray]:
    from beit_runtime import Segmenter

    with Segmenter(artifact, precision=precision, backend=backend, batch_size=4) as segmenter:
        return [result.labels for result in segmenter.segment([image for image, _ in scenes(quick=quick)])]


def _capped_labels(artifact: Path, *, quick: bool, folder: Path) -> list[np.ndarray] | str:
    """OpenVINO int8 labels from a child with oneDNN capped at AVX2; a reason string when it failed."""
    out = folder / "avx2-labels.npz"
    command = [sys.executable, "-m", "benchmarks.parity_figures", "--labels-child", str(artifact), str(out),
               *(["--quick"] if quick else [])]
    done = subprocess.run(command, env={**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2"}, capture_output=True,
                          text=True, check=False, cwd=Path(__file__).resolve().parents[1])
    if done.returncode != 0:
        return f"the AVX2-capped child ended with exit status {done.returncode}: {done.stderr.strip()[-300:]}"
    with np.load(out) as stored:
        return [stored[f"labels_{i}"] for i in range(len(stored.files))]


def beyond_avx2() -> bool:
    from benchmarks.int8_options import cpu_record

    cpu = cpu_record()
    return bool(cpu["beyond_avx2"] and cpu["has_avx2"])


def _row_name(precision: str, backend: str, cap: str | None) -> str:
    return f"{backend}{'-avx2' if cap else ''} {precision}"


def evaluate_segmentation(artifact: Path, *, quick: bool, folder: Path) -> dict[str, Any]:
    """mIoU per engine and precision on the scenes, and the share of labels equal to ONNX Runtime fp32's."""
    import importlib.util

    from beit_export.demo.metrics import mean_iou
    from beit_export.demo.scenes import CLASS_NAMES

    masks = [mask for _, mask in scenes(quick=quick)]
    rows: dict[str, Any] = {}
    reference: list[np.ndarray] = []
    for precision, backend, cap in _ENGINE_ROWS:
        name = _row_name(precision, backend, cap)
        if backend == "openvino" and importlib.util.find_spec("openvino") is None:
            rows[name] = {"error": "openvino is not installed"}
            continue
        if cap and not beyond_avx2():
            continue  # this CPU is AVX2 at most: the uncapped row is already the AVX2 one
        _log(f"segmenting {len(masks)} scenes: {name}")
        labels = (_capped_labels(artifact, quick=quick, folder=folder) if cap
                  else segment_labels(artifact, precision=precision, backend=backend, quick=quick))
        if isinstance(labels, str):
            rows[name] = {"error": labels}
            continue
        reference = reference or labels
        miou, per_class = mean_iou(labels, masks, num_classes=len(CLASS_NAMES))
        agreement = float(np.mean([np.mean(a == b) for a, b in zip(reference, labels, strict=True)]))
        rows[name] = {"miou": round(miou, 4), "per_class_iou": dict(zip(CLASS_NAMES, np.round(per_class, 4).tolist(),
                                                                         strict=True)),
                      "label_agreement_with_fp32": round(agreement, 4)}
    return {"scenes": len(masks), "seed": SCENE_SEED, "sizes": [list(s) if s else "random 96-256"
                                                               for s in (QUICK_SCENES if quick else SCENE_SIZES)],
            "reference": _row_name(*_ENGINE_ROWS[0]), "rows": rows}


def checkpoint_sizes() -> dict[str, int]:
    from beit_export.demo import DEMO_CHECKPOINTS, checkpoint_dir

    return {model: (checkpoint_dir(model) / "model.safetensors").stat().st_size for model in DEMO_CHECKPOINTS}


def measure(*, quick: bool, workdir: Path, only: list[str] | None = None) -> dict[str, Any]:
    """Every job's entry, the demo segmentation evaluation, the demo checkpoint sizes and the machine."""
    import torch

    from benchmarks.workload.machine import describe_machine

    began = time.perf_counter()
    machine = describe_machine(threads=torch.get_num_threads())
    exports, segmentation = {}, {}
    for name, job in export_jobs(quick=quick).items():
        if only and name not in only:
            continue
        artifact, exports[name] = export_one(name, job, workdir=workdir)
        if name == "demo-segmentation":
            segmentation = {"model": job[0], **evaluate_segmentation(artifact, quick=quick, folder=workdir)}
    return {"machine": machine, "exports": exports, "demo_segmentation": segmentation,
            "demo_checkpoint_bytes": checkpoint_sizes(),
            "settings": {"quick": quick, "command": "python -m benchmarks.parity_figures" + (" --quick" * quick),
                         "run_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                         "wall_s": round(time.perf_counter() - began, 1)}}


def merge(previous: dict[str, Any], fresh: dict[str, Any]) -> dict[str, Any]:
    """``fresh`` over ``previous``: a run of some jobs (``--only``) keeps the other jobs' stored entries."""
    exports = {**previous.get("exports", {}), **fresh["exports"]}
    segmentation = fresh["demo_segmentation"] or previous.get("demo_segmentation", {})
    return {**fresh, "exports": exports, "demo_segmentation": segmentation}


def _labels_child(artifact: Path, out: Path, *, quick: bool) -> int:
    labels = segment_labels(artifact, precision="int8", backend="openvino", quick=quick)
    np.savez(out, **{f"labels_{i}": array for i, array in enumerate(labels)})  # type: ignore[arg-type]
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.parity_figures", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny in-process models and 4 scenes (smoke test)")
    parser.add_argument("--write-results", nargs="?", type=Path, const=DEFAULT_RESULTS,
                        help=f"write the JSON (default {DEFAULT_RESULTS.name} in benchmarks/)")
    parser.add_argument("--only", help="comma-separated jobs to run (the others keep their stored entries)")
    parser.add_argument("--workdir", type=Path, help="keep the artifacts here (default: a temporary folder)")
    parser.add_argument("--labels-child", nargs=2, type=Path, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.labels_child:
        return _labels_child(*args.labels_child, quick=args.quick)
    only = args.only.split(",") if args.only else None
    if only and set(only) - set(export_jobs(quick=args.quick)):
        print(f"--only: unknown job(s); expected some of {sorted(export_jobs(quick=args.quick))}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="parity-figures-") as scratch:
        workdir = args.workdir or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        results = measure(quick=args.quick, workdir=workdir, only=only)
    if args.write_results:
        path = args.write_results
        previous = json.loads(path.read_text(encoding="utf-8")) if path.is_file() and only else {}
        path.write_text(json.dumps(merge(previous, results), indent=1) + "\n", encoding="utf-8")
        _log(f"wrote {path}")
    else:
        print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
