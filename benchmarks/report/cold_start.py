"""The cold-start table of benchmarks/RESULTS.md, from RESULTS-cold-start.json (``benchmarks/cold_start.py``).

Rows: the graph loaded without the optimized-model cache (``BEIT_DEPLOY_CACHE=off``: the runtime before
the cache), the first start on an empty cache, and warm starts; each from process start to the first
result, split into interpreter start, ``import beit_runtime``, ``Classifier(...)`` and the first call,
with the peak RSS against the graph's weight bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .blocks import replace_block

BEGIN, END = "<!-- cold-start:begin -->", "<!-- cold-start:end -->"
GOAL_TOTAL_S, GOAL_RSS_RATIO = 1.0, 1.5
_PHASES = ("start_s", "import_s", "load_s", "first_result_s")


def _row(row: dict[str, Any]) -> str:
    phases = " | ".join(f"{row[name]:.3f}" for name in _PHASES)
    return (f"| {row['name']} | {row['runs']} | **{row['total_s']:.3f}** | {phases} | {row['peak_rss_mib']:.0f} | "
            f"{row['rss_over_weights']:.2f}x | {row['cache']} |")


def goals(data: dict[str, Any]) -> list[str]:
    rows = {row["name"]: row for row in data["rows"]}
    warm, first = rows["warm start"], rows["first start (empty cache)"]

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    lines = [f"- warm start to first result {warm['total_s']:.3f} s (goal <= {GOAL_TOTAL_S} s): "
             f"{verdict(warm['total_s'] <= GOAL_TOTAL_S)}; first start {first['total_s']:.3f} s",
             f"- peak RSS of the warm starts {warm['rss_over_weights']:.2f}x the weights (goal <= {GOAL_RSS_RATIO}x, "
             f"whole process): {verdict(warm['rss_over_weights'] <= GOAL_RSS_RATIO)}; the first start, which "
             f"optimizes and writes the graph, {first['rss_over_weights']:.2f}x"]
    speed = data.get("inference_ratio")
    if speed is not None:
        lines.append(f"- inference with the cached graph / the graph optimized at load: {speed['median']:.3f}x "
                     f"time (median of {speed['rounds']} interleaved rounds; outputs equal: {speed['equal']})")
    return lines


def _load(machine: dict[str, Any]) -> str:
    return ", ".join(f"{value:.2f}" for value in machine.get("load_average") or []) or "?"


def render(data: dict[str, Any]) -> str:
    machine = data["machine"]
    lines = [
        f"CPU: {machine['cpu']}; {machine['logical_cores']} logical cores, intra-op threads "
        f"{data['threads'] or 'default (all)'}; onnxruntime {machine['onnxruntime']}, Python {machine['python']}.",
        f"Model: {data['model']} ORT fp32, graph weights {data['weight_bytes'] / 1e6:.1f} MB "
        f"({data['weight_bytes'] / 2 ** 20:.0f} MiB). A fresh process per start: `Classifier(artifact)` + one "
        "image (path) -> top-1; times in seconds from spawning the process (p50 over the runs), peak RSS = the "
        "child's VmHWM (max over the runs). The files are in the page cache in every row (no drop of "
        "caches); the first start has an empty beit-deploy cache (graph hashed, optimized and written). "
        f"Load average when it started: {_load(machine)}. Reproduce: `python benchmarks/cold_start.py "
        "--artifact-dir ARTIFACT --write-results`.",
        "",
        "| start | runs | total | interpreter | import | Classifier() | first result | peak RSS MiB | "
        "RSS / weights | cache |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *(_row(row) for row in data["rows"]),
        "",
        "Goals (issue 19, item 6):",
        "",
        *goals(data),
    ]
    return "\n".join(lines) + "\n"


def section(data: dict[str, Any]) -> str:
    """The RESULTS.md block, between its markers."""
    return f"{BEGIN}\n{render(data)}{END}"


def write_section(results_md: Path, data: dict[str, Any]) -> None:
    """Replace the block between the markers in ``results_md`` (append a titled block when it has none)."""
    replace_block(results_md, begin=BEGIN, end=END, body=render(data), title="Cold start (ORT fp32)")
