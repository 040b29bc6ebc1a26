"""benchmarks.workload.prepare: a benchmark that times no int8 graph exports without one (and without an int8
mode: the exporter refuses a mode without --int8, so `latency.py --backends ort-fp32` crashed)."""

from __future__ import annotations

import json

from benchmarks.workload.prepare import FAILURES_FILE, export_into_cache


def test_a_run_without_int8_exports_the_fp32_graph_alone(tmp_path):
    export_into_cache("tiny-beit", tmp_path, variants={"fp32"}, int8_mode="dynamic")
    manifest = json.loads((tmp_path / "artifact" / "manifest.json").read_text(encoding="utf-8"))
    assert sorted(manifest["graphs"]) == ["fp32"]
    assert json.loads((tmp_path / FAILURES_FILE).read_text(encoding="utf-8")) == {}
