"""Run the whole benchmark: prepare each model, time preprocessing, then sgemm and every backend in
their own worker processes, their iterations interleaved round-robin (``benchmarks.harness.interleave``);
measure the digits accuracy per timed runtime row (the given artifact's own graphs, or the trained demo
classifier for presets); derive figures, judge the goals, write JSON, Markdown and the plot."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from beit_runtime.manifest import load_manifest
from beit_runtime.tasks import task

from ..backends import REGISTRY
from ..report.analysis import derive, evaluate_goals
from ..report.plot import plot_latency
from ..report.tables import markdown_report
from ..workload.flops import gemm_shapes, model_flops, model_macs
from ..workload.jobs import BackendJob, ModelInfo, TimingPlan
from ..workload.machine import describe_machine
from ..workload.photos import write_photos
from ..workload.prepare import prepare_model
from .accuracy import classifier_accuracy
from .interleave import Participant, interleaved_times, start_all
from .measure import Progress, latency_stats
from .runner import run_job
from .sgemm import set_flops


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
    size = {"height": info.height, "width": info.width}
    config = {k: v for k, v in info.config.items() if k not in ("id2label", "label2id")}
    config["num_labels"] = len(info.config.get("id2label") or {}) or info.config.get("num_labels", 2)
    return {
        "name": info.name, "task": info.task, **size, "artifact_dir": info.artifact_dir, "config": config,
        "batch_sizes": [str(b) for b in batches], "flops_per_image": model_flops(info.config, task=info.task, **size),
        "macs_per_image": model_macs(info.config, task=info.task, **size),
        "flop_method": "analytic, from the config (benchmarks/workload/flops.py)", "backends": {},
    }


def _prepare(name: str, settings: Settings) -> tuple[ModelInfo, dict[str, ModelInfo]]:
    """The model's artifact(s): one per int8 mode the chosen backends need (same weights, same seed)."""
    variants = {"fp32"} | {REGISTRY[b].graph for b in settings.backends if REGISTRY[b].graph}
    modes = {REGISTRY[b].int8_mode for b in settings.backends if REGISTRY[b].int8_mode} or {settings.int8_mode}
    main_mode = settings.int8_mode if settings.int8_mode in modes else sorted(modes)[0]
    if settings.artifact_dir is not None:  # a given artifact's int8 graph is what its export made it
        main_mode = _artifact_int8_mode(settings.artifact_dir) or main_mode
    info = prepare_model(name, cache_dir=settings.cache_dir, variants=variants, artifact_dir=settings.artifact_dir,
                         tensorrt="tensorrt" in settings.backends, int8_mode=main_mode)
    by_mode = {main_mode: info}
    for mode in modes - {main_mode}:
        if settings.artifact_dir is None:
            by_mode[mode] = prepare_model(name, cache_dir=settings.cache_dir, variants={"fp32", "int8"}, int8_mode=mode)
    return info, by_mode


def _artifact_int8_mode(artifact_dir: str | Path) -> str | None:
    """How the artifact's int8 graph was quantized ("static" / "dynamic"; None without one)."""
    manifest = load_manifest(artifact_dir, verify_files=False)  # only its records are read here
    if "int8" not in manifest.graphs:
        return None
    recorded = manifest.export.int8_mode if manifest.export is not None else None
    return recorded or "static"  # not recorded: the exporter's default (beit_export.options)


def _participants(info: ModelInfo, by_mode: dict[str, ModelInfo], settings: Settings, batches, photos) -> list:
    shapes = {b: gemm_shapes(info.config, height=info.height, width=info.width, batch=b) for b in batches}
    participants = [Participant("sgemm", "sgemm", {"shapes_by_batch": shapes, "threads": settings.threads},
                                settings.threads)]
    for backend in settings.backends:
        mode = REGISTRY[backend].int8_mode
        model = by_mode.get(mode, info) if mode else info
        if mode and mode not in by_mode:
            failure = f"needs a {mode} int8 graph; the given artifact has another"
            model = replace(info, export_failures={"int8": failure})
        job = BackendJob(backend=backend, model=model, threads=settings.threads, batch_sizes=tuple(batches),
                         plan=settings.plan, photos=tuple(str(p) for p in photos))
        participants.append(Participant(backend, "backend", job.to_json(), settings.threads))
    return participants


def _record_times(model: dict, participant, batch: int, mode: str, times: list[float], flops_per_set) -> None:
    if participant.name == "sgemm":
        entry = model["sgemm"].setdefault(str(batch), {"shapes": flops_per_set["shapes"][batch]})
        entry["rounds"] = times
        entry["gflops"] = round(flops_per_set["flops"][batch] / float(np.median(times)) / 1e9, 2)
        entry["library"] = participant.ready.get("library")
        return
    result = model["backends"][participant.name]
    result.setdefault("batches", {}).setdefault(str(batch), {})[mode] = {
        **latency_stats(times, batch=batch), "rounds": times}


def run_model(name: str, settings: Settings, photos: list[Path]) -> dict:
    info, by_mode = _prepare(name, settings)
    batches = settings.batch_sizes or task(info.task).benchmark_batch_sizes
    model = _model_record(info, batches)
    model["preprocessing"] = run_job("preprocess", {
        "artifact_dir": info.artifact_dir, "hf_dir": info.hf_dir, "model_type": info.config["model_type"],
        "photos": [str(p) for p in photos], "plan": asdict(settings.plan), "threads": settings.threads,
    }, threads=settings.threads)
    participants = _participants(info, by_mode, settings, batches, photos)
    progress = Progress(f"{name}")
    start_all(participants, progress)
    model["sgemm"] = {}
    shapes = {b: gemm_shapes(info.config, height=info.height, width=info.width, batch=b) for b in batches}
    per_set = {"shapes": {b: [list(x) for x in s] for b, s in shapes.items()},
               "flops": {b: set_flops(s) for b, s in shapes.items()}}
    for p in participants[1:]:
        model["backends"][p.name] = {"backend": p.name, **{k: v for k, v in p.ready.items() if k != "modes"}}
    for batch in batches:
        for mode in ("engine", "end_to_end"):
            times = interleaved_times(participants, batch=batch, mode=mode, plan=settings.plan, progress=progress)
            for participant in participants:
                if participant.name in times:
                    _record_times(model, participant, batch, mode, times[participant.name], per_set)
    for p in participants:
        final = p.close()
        if p.name != "sgemm" and p.usable:
            model["backends"][p.name].update(final)
    progress.done("done")
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
    accuracy = classifier_accuracy(settings.backends, models=models, cache_dir=settings.cache_dir,
                                   threads=settings.threads, quick=settings.quick, artifact_dir=settings.artifact_dir)
    run_settings["duration_s"] = round(time.perf_counter() - started, 1)
    results = {"machine": machine, "settings": run_settings, "models": models, "accuracy": accuracy,
               "goals": evaluate_goals(models, accuracy=accuracy)}
    return results, write_outputs(results, settings)

