"""The tune block of benchmarks/RESULTS.md, from RESULTS-tune.json (``python -m benchmarks.tune_evidence``):
per CPU, every variant ``beit-run tune`` measured (speed-up against fp32 with its IQR, accuracy drop,
note) and the variant its plan chose."""

from __future__ import annotations

import math
from typing import Any

from beit_runtime.planning.machine import describe

BEGIN, END = "<!-- tune:begin -->", "<!-- tune:end -->"


def _row(row: dict[str, Any]) -> str:
    speed = row["speedup"]
    cell = f"{speed['median']:.2f}x [{speed['q1']:.2f}-{speed['q3']:.2f}]" if speed else "-"
    drop = row["drop_points"]
    unmeasured = not speed or drop is None or (isinstance(drop, float) and math.isnan(drop))  # unavailable: neither
    drop_cell = "-" if unmeasured else f"{drop:.2f}"
    note = row["note"] or ("eligible" if row["eligible"] else "")
    return f"| {row['backend']}-{row['precision']} | {cell} | {drop_cell} | {note} |"


def entry_lines(entry: dict[str, Any]) -> list[str]:
    plan = entry["plan"]
    lines = [f"**{describe(plan['machine'])}**: {entry['model']} (random weights), batch {entry['batch_size']}, "
             f"{entry['threads']} threads, {entry['rounds']} interleaved rounds; accuracy: {plan['accuracy_source']}.",
             "", "| variant | x fp32 [IQR] | drop (points) | note |", "|---|---|---|---|"]
    lines += [_row(row) for row in plan["rows"]]
    lines += ["", f"Chosen: **{plan['chosen_backend']} {plan['chosen_precision']}** ({plan['reason']}).", ""]
    return lines


def render(results: dict[str, Any]) -> str:
    lines = ["`beit-run tune` never picks a variant whose speed-up's first quartile is at most 1 (\"slower than "
             "fp32 here\" or \"not clearly faster\"); the figures are the user's call (preprocessing, engine, "
             "post-processing).", ""]
    for entry in results["machines"]:
        lines += entry_lines(entry)
    return "\n".join(lines)
