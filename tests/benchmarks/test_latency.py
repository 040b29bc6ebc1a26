"""benchmarks/latency.py: the --quick smoke run writes well-formed outputs; the CLI checks its options."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.latency import build_parser, settings_from_args

REPO = Path(__file__).resolve().parents[2]
MEASURED = ("pytorch-eager-fp32", "ort-fp32", "ort-int8", "ort-int8-qdq", "ort-fp16", "openvino-fp32", "openvino-int8")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, "benchmarks/latency.py", "--quick", "--output-dir", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
    )
    return out, done


def test_quick_run_exits_cleanly_with_progress(quick_run):
    _, done = quick_run
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
    for heading in ("## Machine", "## Goals", "## Accuracy of the trained classifier", "### Latency, engine only",
                    "### End to end", "### Cold start", "### sgemm reference", "### Preprocessing"):
        assert heading in report
    assert "tensorrt: skipped:" in report
    png = (out / "latency.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


def test_cli_rejects_unknown_backend_and_bad_batch_sizes(capsys):
    for argv in (["--backends", "ort-fp32,nope"], ["--batch-sizes", "0,8"]):
        with pytest.raises(SystemExit) as raised:
            build_parser().parse_args(argv)
        assert raised.value.code == 2
    assert "choose from" in capsys.readouterr().err


def test_quick_run_of_an_artifact_is_named_after_the_artifact(tmp_path):
    """--quick --artifact-dir X times X: the report and stdout tables are titled X, not tiny-beit."""
    settings = settings_from_args(build_parser().parse_args(["--quick", "--artifact-dir", str(tmp_path)]))
    assert settings.models == (str(tmp_path),) and settings.artifact_dir == tmp_path.resolve()
    labelled = settings_from_args(build_parser().parse_args(["--quick", "--artifact-dir", str(tmp_path),
                                                             "--model", "mine"]))
    assert labelled.models == ("mine",)
    assert settings_from_args(build_parser().parse_args(["--quick"])).models == ("tiny-beit",)
