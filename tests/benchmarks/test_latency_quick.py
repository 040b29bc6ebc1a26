"""benchmarks/latency.py: the --quick smoke run writes well-formed outputs; FLOPs and goals are right."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.analysis import evaluate_goals
from benchmarks.flops import model_flops
from benchmarks.latency import build_parser

REPO = Path(__file__).resolve().parents[2]
MEASURED = ("pytorch-eager-fp32", "ort-fp32", "ort-int8", "ort-int8-qdq", "ort-fp16", "openvino-fp32", "openvino-int8")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, "benchmarks/latency.py", "--quick", "--output-dir", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    return out, done


def test_quick_run_exits_cleanly_with_progress(quick_run):
    out, done = quick_run
    assert done.returncode == 0, done.stderr[-3000:]
    assert "[bench]" in done.stderr
    assert "| ort-fp32 |" in done.stdout and "goals:" in done.stdout


def test_quick_json_has_every_figure(quick_run):
    out, _ = quick_run
    results = json.loads((out / "results.json").read_text())
    assert results["machine"]["cpu"] and results["machine"]["threads_used"] == 1
    model = results["models"][0]
    assert model["flops_per_image"] > 0 and set(model["sgemm"]) == {"1", "2"}
    for name in MEASURED:
        backend = model["backends"][name]
        assert backend["cold_start"]["cold_start_s"] > 0 and backend["peak_rss_mib"] > 0, backend
        for batch in ("1", "2"):
            engine, e2e = backend["batches"][batch]["engine"], backend["batches"][batch]["end_to_end"]
            assert 0 < engine["p50_ms"] <= engine["p90_ms"] <= engine["p99_ms"]
            assert e2e["p50_ms"] > 0 and engine["throughput_ips"] > 0
            assert model["derived"][name][batch]["gflops"] > 0
    assert model["derived"]["ort-fp32"]["1"]["speedup_engine"] > 0
    assert model["backends"]["tensorrt"]["skipped"]  # no TensorRT here: listed with its reason
    assert model["preprocessing"]["speedup"] > 0
    assert model["preprocessing"]["max_diff_8bit_levels"] <= 1.0
    assert {goal["status"] for goal in results["goals"]} <= {"met", "missed", "unsettled", "not measured"}


def test_quick_run_interleaves_rounds_and_measures_accuracy(quick_run):
    out, _ = quick_run
    results = json.loads((out / "results.json").read_text())
    model = results["models"][0]
    for batch in ("1", "2"):
        sgemm_rounds = len(model["sgemm"][batch]["rounds"])
        lengths = {len(model["backends"][name]["batches"][batch]["engine"]["rounds"]) for name in MEASURED}
        assert lengths == {sgemm_rounds}, "every participant times once per round"
        assert model["sgemm"][batch]["gflops"] > 0
    low, high = model["derived"]["ort-fp32"]["1"]["speedup_engine_iqr"]
    assert low <= model["derived"]["ort-fp32"]["1"]["speedup_engine"] <= high
    rows = results["accuracy"]["rows"]
    assert rows["ort-fp32"]["top1"] >= 0.9 and abs(rows["ort-int8"]["top1"] - rows["ort-fp32"]["top1"]) <= 0.05
    assert "top1" in rows["openvino-bf16"] or "bf16" in rows["openvino-bf16"]["skipped"]


def test_quick_markdown_and_png(quick_run):
    out, _ = quick_run
    report = (out / "report.md").read_text()
    for heading in ("## Machine", "## Goals", "## Accuracy of the trained classifier", "### Latency, engine only", "### End to end",
                    "### Cold start", "### sgemm reference", "### Preprocessing"):
        assert heading in report
    assert "tensorrt: skipped:" in report
    png = (out / "latency.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


def test_flop_formula_matches_torch_flop_counter():
    """The analytic count equals torch's FLOP counter (eager attention, which it can see) exactly."""
    import torch
    import transformers
    from torch.utils.flop_counter import FlopCounterMode

    from benchmarks.tiny import TINY_CONFIG

    cases = [("BeitForImageClassification", "image-classification", {}),
             ("BeitModel", "backbone", {}),
             ("BeitForSemanticSegmentation", "semantic-segmentation",
              dict(num_hidden_layers=4, out_indices=[1, 2, 3, 4], use_auxiliary_head=False))]
    for architecture, task, extra in cases:
        config = transformers.BeitConfig(**{**TINY_CONFIG, **extra})
        model = getattr(transformers, architecture)._from_config(config, attn_implementation="eager").eval()
        with FlopCounterMode(display=False) as counter, torch.inference_mode():
            model(pixel_values=torch.randn(1, 3, 64, 64))
        assert model_flops(config.to_dict(), task=task, height=64, width=64) == counter.get_total_flops(), architecture


def test_flop_formula_beit_base_reference_figure():
    config = {"patch_size": 16, "hidden_size": 768, "num_hidden_layers": 12, "intermediate_size": 3072,
              "num_labels": 1000}
    assert model_flops(config, task="image-classification", height=224, width=224) / 2e9 == pytest.approx(17.6, abs=0.05)


def _model(rounds_ms: dict[str, list[float]]) -> dict:
    backends = {name: {"batches": {"1": {"engine": {"p50_ms": float(np.median(ms)), "rounds": [m / 1e3 for m in ms]}}}}
                for name, ms in rounds_ms.items()}
    return {"name": "m", "task": "image-classification", "batch_sizes": ["1"], "backends": backends,
            "flops_per_image": 1e9, "sgemm": {"1": {"gflops": 10.0, "rounds": [0.1] * len(rounds_ms["ort-fp32"])}},
            "preprocessing": {"speedup": 3.0, "speedup_iqr": [2.9, 3.1]}}


def test_goals_met_missed_unsettled_and_not_measured():
    goals = evaluate_goals([_model({"pytorch-eager-fp32": [300.0, 310.0, 290.0, 305.0],
                                    "ort-fp32": [150.0, 150.0, 150.0, 150.0],
                                    "ort-int8": [40.0, 60.0, 45.0, 55.0]})])
    status = {goal["goal"]: goal["status"] for goal in goals}
    assert status["ONNX fp32 vs PyTorch eager, batch 1"] == "met"  # every round about 2x >= 1.5x
    assert status["int8 (ort-int8) vs ONNX Runtime fp32, batch 1"] == "unsettled"  # rounds 2.5x..3.75x around 3x
    assert status["fastest fp32-parity backend (ort-fp32) % of sgemm, batch 1"] == "missed"  # 6.7 of 10 GFLOP/s
    assert status["runtime preprocessing vs transformers PIL processor"] == "missed"
    assert not any("bf16" in goal for goal in status)  # no batch 8 measured: the batch-8 goal is not listed


def test_cli_rejects_unknown_backend_and_bad_batch_sizes(capsys):
    for argv in (["--backends", "ort-fp32,nope"], ["--batch-sizes", "0,8"]):
        with pytest.raises(SystemExit) as raised:
            build_parser().parse_args(argv)
        assert raised.value.code == 2
    assert "choose from" in capsys.readouterr().err
