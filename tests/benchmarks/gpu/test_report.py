"""RESULTS.md's GPU section is generated from RESULTS-gpu.json, and the goal verdicts follow the figures."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.gpu.report import BEGIN, DEFAULT, END, goals, section

RESULTS_MD = Path(__file__).resolve().parents[3] / "benchmarks" / "RESULTS.md"


def test_results_md_holds_the_generated_section():
    text = RESULTS_MD.read_text(encoding="utf-8")
    block = text[text.index(BEGIN): text.index(END) + len(END)]
    assert block == section(json.loads(DEFAULT.read_text(encoding="utf-8")))
    assert "NVIDIA H200" in block


def _run(rows: list[dict], seg_ms: float) -> dict:
    return {"stages": {"classifier_ort": {"value": rows},
                       "segmentation_640": {"value": [{"variant": "fp16", "mode": "device", "p50_ms": seg_ms}]}}}


def test_goal_verdicts():
    rows = [{"variant": "fp16-fused", "mode": "cudagraph", "batch": 1, "p50_ms": 1.4, "throughput_ips": 714.0},
            {"variant": "fp16-fused", "mode": "iobound", "batch": 32, "p50_ms": 4.0, "throughput_ips": 8000.0},
            {"variant": "fp16-fused-norms", "mode": "iobound", "batch": 32, "p50_ms": 3.0, "throughput_ips": 10667.0}]
    lines = goals([_run(rows, 9.0)])
    assert lines[0].startswith("- batch 32 >= 7,353 img/s (graphs without --fused-norms): met, best 8,000 img/s "
                               "(fp16-fused")
    assert lines[1].startswith("- batch 1 <= 1.5 ms (graphs without --fused-norms): met, best 1.40 ms")
    assert "best 10,667 img/s (fp16-fused-norms" in lines[2]
    assert "NOT met, best 9.00 ms (fp16, device)" in lines[-1]
