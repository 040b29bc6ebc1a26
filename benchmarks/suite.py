"""Run the whole benchmark: prepare each model, then sgemm, preprocessing and every backend in
fresh worker processes; derive figures, judge the goals, write JSON, Markdown and the plot."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from .analysis import derive, evaluate_goals
from .context import BackendJob, ModelInfo
from .flops import gemm_shapes, model_flops, model_macs
from .machine import describe_machine
from .measure import TimingPlan
from .photos import write_photos
from .plot import plot_latency
from .prepare import prepare_model
from .report import markdown_report
from .runner import run_job

DEFAULT_BATCHES = {"semantic-segmentation": (1,)}
VARIANTS_FOR = {"ort-fp32": "fp32", "ort-int8": "int8", "ort-fp16": "fp16", "tensorrt": "fp16"}


@dataclass(frozen=True)
class Settings:
    models: tuple[str, ...]
    backends: tuple[str, ...]
    batch_sizes: tuple[int, ...] | None
    threads: int
    plan: TimingPlan
    output_dir: Path
    cache_dir: Path
    artifact_dir: Path | None = None
    quick: bool = False
    sgemm_seconds: float = 1.0
    int8_mode: str = "dynamic"
    results_md: Path | None = None


def _model_record(info: ModelInfo, batches: tuple[int, ...]) -> dict:
    size = dict(height=info.height, width=info.width)
    config = {k: v for k, v in info.config.items() if k not in ("id2label", "label2id")}
    config["num_labels"] = len(info.config.get("id2label") or {}) or info.config.get("num_labels", 2)
    return {
        "name": info.name, "task": info.task, **size, "artifact_dir": info.artifact_dir, "config": config,
        "batch_sizes": [str(b) for b in batches], "flops_per_image": model_flops(info.config, task=info.task, **size),
        "macs_per_image": model_macs(info.config, task=info.task, **size),
        "flop_method": "analytic, from the config (benchmarks/flops.py)", "backends": {},
    }


def run_model(name: str, settings: Settings, photos: list[Path]) -> dict:
    variants = {"fp32"} | {VARIANTS_FOR[b] for b in settings.backends if b in VARIANTS_FOR}
    info = prepare_model(name, cache_dir=settings.cache_dir, variants=variants, artifact_dir=settings.artifact_dir,
                         tensorrt="tensorrt" in settings.backends, int8_mode=settings.int8_mode)
    batches = settings.batch_sizes or DEFAULT_BATCHES.get(info.task, (1, 8))
    model = _model_record(info, batches)
    shapes = {b: gemm_shapes(info.config, height=info.height, width=info.width, batch=b) for b in batches}
    sgemm = run_job("sgemm", {"shapes_by_batch": shapes, "threads": settings.threads, "repeats": 5,
                              "min_seconds": settings.sgemm_seconds}, threads=settings.threads)
    model["sgemm"] = sgemm.get("by_batch") or {}
    model["sgemm_job"] = {k: v for k, v in sgemm.items() if k != "by_batch"}
    model["preprocessing"] = run_job("preprocess", {
        "artifact_dir": info.artifact_dir, "hf_dir": info.hf_dir, "model_type": info.config["model_type"],
        "photos": [str(p) for p in photos], "plan": asdict(settings.plan), "threads": settings.threads,
    }, threads=settings.threads)
    for backend in settings.backends:
        job = BackendJob(backend=backend, model=info, threads=settings.threads, batch_sizes=tuple(batches),
                         plan=settings.plan, photos=tuple(str(p) for p in photos))
        model["backends"][backend] = run_job("backend", job.to_json(), threads=settings.threads)
    model["derived"] = derive(model)
    return model


def write_outputs(results: dict, settings: Settings) -> dict[str, Path]:
    out = settings.output_dir
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "markdown": out / "report.md", "plot": out / "latency.png"}
    paths["json"].write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    paths["markdown"].write_text(markdown_report(results), encoding="utf-8")
    plot_latency(results, paths["plot"])
    if settings.results_md:
        settings.results_md.write_text(markdown_report(results, title="beit-deploy: latest benchmark results"),
                                       encoding="utf-8")
        paths["results_md"] = settings.results_md
    return paths


def run_suite(settings: Settings) -> tuple[dict, dict[str, Path]]:
    started = time.perf_counter()
    machine = describe_machine(threads=settings.threads)
    photos = write_photos(settings.output_dir / "photos")[: 3 if settings.quick else None]
    run_settings = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "quick": settings.quick,
        "batch_sizes": list(settings.batch_sizes or ["default per task"]), "iterations": settings.plan.iterations,
        "warmup": settings.plan.warmup, "time_limit_s": settings.plan.time_limit_s, "backends": list(settings.backends),
        "threads": settings.threads, "int8_mode": settings.int8_mode,
    }
    models = [run_model(name, settings, photos) for name in settings.models]
    run_settings["duration_s"] = round(time.perf_counter() - started, 1)
    results = {"machine": machine, "settings": run_settings, "models": models, "goals": evaluate_goals(models)}
    return results, write_outputs(results, settings)

