"""Folder-run benchmark (issue 20): ``python -m benchmarks.bulk`` (or ``python benchmarks/bulk.py``).

1. A folder of ``--images`` real-photo crops (``benchmarks.workload.bulk_folder``: JPEG, PNG, gray, RGBA,
   16-bit, a corrupt file, a text file) through ``run_folder`` with the shipped demo classifier: images/s,
   and every result compared with ``Classifier.classify`` of the same image in-process.
2. The same job on Ray Data, on a local ``ray.cluster_utils.Cluster`` of one node (one CPU, one actor)
   and of two nodes (one CPU and one actor each), one inference thread per actor: images/s in all and per
   node. On one machine both nodes share its cores: this measures Ray's overhead and how an actor pool
   spreads over nodes, not what extra machines add.
3. The pipelining goal: ``--pipeline-model`` (default BEiT-base-224, random weights, exported offline)
   on the first ``--pipeline-images`` images at one batch size and ``--threads`` threads, end to end
   (folder run, model loaded beforehand) against engine only (the same batches' tensors made beforehand).

Writes OUTPUT_DIR/results.json and prints a table; the artifacts are exported once into OUTPUT_DIR.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from beit_runtime import Classifier, RunOptions, task_class
from beit_runtime.bulk import BulkOptions, run_folder, run_on_ray
from beit_runtime.bulk.local import run_items
from beit_runtime.bulk.walking import chunked, collect_items
from beit_runtime.bulk.writers import OutputFolder
from beit_runtime.images import load_image
from beit_runtime.progress import Progress
from benchmarks.workload.bulk_folder import write_bulk_folder
from benchmarks.workload.machine import cpu_model


def _export(model: str, folder: Path) -> Path:
    if (folder / "manifest.json").exists():
        return folder
    from beit_export import ExportOptions, export_artifact, load_checkpoint

    checkpoint = load_checkpoint(model, random_init=not model.startswith("beit-deploy/"))
    return Path(export_artifact(checkpoint, output=folder, options=ExportOptions()))


def _fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    return folder


def local_run(artifact: Path, photos: Path, out: Path, *, batch_size: int, threads: int) -> dict[str, Any]:
    started = time.perf_counter()
    summary = run_folder(artifact, [photos], options=BulkOptions(output=_fresh(out), progress="off"),
                         batch_size=batch_size, intra_op_threads=threads)
    seconds = time.perf_counter() - started
    return {"images": summary.images, "succeeded": summary.succeeded, "failed": summary.failed,
            "seconds": seconds, "images_per_s": summary.images / seconds}


def identical_to_classifier(artifact: Path, photos: Path, out: Path, *, batch_size: int) -> dict[str, Any]:
    """Every line of results.jsonl against ``Classifier.classify`` of the same image in-process."""
    records = [json.loads(line) for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    paths = [str(photos / record["image"]) for record in records]
    with Classifier(artifact, batch_size=batch_size) as classifier:
        expected = [row for start in range(0, len(paths), 256)
                    for row in classifier.classify(paths[start : start + 256], top_k=5)]
    same_ids = all([p["id"] for p in record["predictions"]] == [p.id for p in row]
                   for record, row in zip(records, expected, strict=True))
    worst = max(abs(p["score"] - q.score) for record, row in zip(records, expected, strict=True)
                for p, q in zip(record["predictions"], row, strict=True))
    return {"compared": len(records), "same_top5_ids": same_ids, "max_abs_score_difference": worst}


def ray_run(artifact: Path, photos: Path, out: Path, *, nodes: int, batch_size: int) -> dict[str, Any]:
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": 200 * 2**20})
    for _ in range(nodes - 1):
        cluster.add_node(num_cpus=1, object_store_memory=200 * 2**20)
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
    try:
        started = time.perf_counter()
        summary = run_on_ray(artifact, [photos], options=BulkOptions(output=_fresh(out), progress="off"),
                             actors=nodes, actor_cpus=1, batch_size=batch_size, intra_op_threads=1)
        seconds = time.perf_counter() - started
    finally:
        ray.shutdown()
        cluster.shutdown()
    return {"nodes": nodes, "images": summary.images, "seconds": seconds, "images_per_s": summary.images / seconds,
            "images_per_s_per_node": summary.images / seconds / nodes}


def pipelining(artifact: Path, photos: Path, out: Path, *, count: int, batch_size: int, threads: int,
               rounds: int) -> dict[str, Any]:
    """End to end (folder run, model loaded) vs engine only (tensors made beforehand), same images and batches,
    interleaved for ``rounds`` rounds (the machine's load drifts); the median of the per-round ratios."""
    items = [item for item in collect_items([photos]) if "broken" not in item.relative][:count]
    options = RunOptions(batch_size=batch_size, intra_op_threads=threads)
    engine_rates, end_to_end_rates = [], []
    with task_class("image-classification")(artifact, options=options) as model:
        feeds = [model.pixel_feeds([load_image(item.path) for item in chunk]) for chunk in chunked(items, batch_size)]
        model.run(feeds[0])  # warm-up
        for _ in range(rounds):
            started = time.perf_counter()
            for feed in feeds:
                model.run(feed)
            engine_rates.append(len(items) / (time.perf_counter() - started))
            bulk = BulkOptions(output=_fresh(out), progress="off", reader_threads=2)
            output = OutputFolder(Path(bulk.output), settings={"benchmark": "pipelining"}, shard_size=bulk.shard_size)
            started = time.perf_counter()
            run_items(model, items, output=output, options=bulk, progress=Progress(len(items), mode="off"))
            end_to_end_rates.append(len(items) / (time.perf_counter() - started))
    ratios = [e2e / engine for e2e, engine in zip(end_to_end_rates, engine_rates, strict=True)]
    return {"images": len(items), "batch_size": batch_size, "threads": threads, "rounds": rounds,
            "engine_only_images_per_s": engine_rates, "end_to_end_images_per_s": end_to_end_rates,
            "ratios": ratios, "median_ratio": float(np.median(ratios))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=Path("bench-bulk"))
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pipeline-model", default="microsoft/beit-base-patch16-224")
    parser.add_argument("--pipeline-images", type=int, default=96)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the pipelining row")
    parser.add_argument("--parts", default="folder,ray,pipelining", help="which parts to run (comma-separated)")
    args = parser.parse_args(argv)
    work = args.output_dir.resolve()
    photos = work / "photos"
    if not photos.exists():
        write_bulk_folder(photos, count=args.images)
    parts = set(args.parts.split(","))
    demo = _export("beit-deploy/demo-classification", work / "demo-classification")
    results: dict[str, Any] = {"cpu": cpu_model(), "folder_images": args.images}
    if "folder" in parts:
        results["local"] = local_run(demo, photos, work / "out-local", batch_size=args.batch_size, threads=args.threads)
        results["identity"] = identical_to_classifier(demo, photos, work / "out-local", batch_size=args.batch_size)
    if "ray" in parts:
        results["ray"] = [ray_run(demo, photos, work / f"out-ray-{n}", nodes=n, batch_size=args.batch_size)
                          for n in (1, 2)]
    if "pipelining" in parts:
        big = _export(args.pipeline_model, work / "pipeline-model")
        results["pipelining"] = pipelining(big, photos, work / "out-pipeline", count=args.pipeline_images,
                                           batch_size=args.batch_size, threads=args.threads, rounds=args.rounds)
    written = work / f"results-{'-'.join(sorted(parts))}.json"
    written.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
