"""benchmarks.backends: rows take their task facts from beit_runtime.tasks; the retired experiment is gone."""

from __future__ import annotations

from pathlib import Path

from beit_runtime.tasks import TASKS
from benchmarks.backends import DEFAULT_BACKENDS, REFERENCE, REGISTRY
from benchmarks.backends.pytorch import POSTPROCESS
from benchmarks.backends.registry import graph_missing
from benchmarks.workload.jobs import BackendJob, ModelInfo, TimingPlan

BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"


def test_fused_attention_experiment_is_retired():
    assert not any("fused" in name for name in REGISTRY) and set(DEFAULT_BACKENDS) == set(REGISTRY)
    assert not (BENCHMARKS / "attention_fusion.py").exists()
    assert "0.86x" in (BENCHMARKS / "RESULTS.md").read_text(encoding="utf-8")  # its figures stay on record


def test_rows_name_their_graph_and_runtime():
    assert REFERENCE in REGISTRY and REGISTRY[REFERENCE].runtime is None
    for name, spec in REGISTRY.items():
        assert spec.title and spec.name == name
        if spec.runtime:
            assert spec.graph in ("fp32", "fp16", "int8"), name
    assert REGISTRY["openvino-int8"].graph == "int8" and REGISTRY["ort-int8-qdq"].int8_mode == "static"


def test_missing_graph_is_named_with_the_export_flag():
    model = ModelInfo(name="m", task="image-classification", artifact_dir="a", hf_dir="h", height=64, width=64,
                      config={}, graph_variants=("fp32",), export_failures={"fp16": "parity failed"})
    job = BackendJob(backend="ort-int8", model=model, threads=1, batch_sizes=(1,), plan=TimingPlan(), photos=())
    assert REGISTRY["ort-fp32"].unavailable(job) is None
    assert "--int8" in REGISTRY["ort-int8"].unavailable(job)
    assert graph_missing(job, "fp16") == "no 'fp16' graph: parity failed"


def test_pytorch_reference_finishes_every_end_to_end_task():
    finishes = {entry.benchmark_postprocess for entry in TASKS.values() if entry.benchmark_end_to_end}
    assert None not in finishes and finishes == set(POSTPROCESS)
