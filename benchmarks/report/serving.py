"""The serving benchmark's summary and Markdown: throughput ratio to in-process, and what bounds it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .tables import table

GOAL_RATIO = 0.8


def bound_notes(summary: dict, *, cores: int) -> list[str]:
    """What limits the 8-client ratio, from the measured CPU time per image on each side."""
    local, runs = summary["in_process"], summary["triton"]
    top = runs[str(max(int(c) for c in runs))]
    local_cpu = local["cpu_ms_per_image"]["client"]
    server_cpu, client_cpu = top["cpu_ms_per_image"]["server"], top["cpu_ms_per_image"]["client"]
    notes = [f"CPU per image: in-process {local_cpu:.1f} ms; Triton {client_cpu + server_cpu:.1f} ms "
             f"(server {server_cpu:.1f} incl. stubs, clients {client_cpu:.1f}).",
             f"Cores busy: in-process {local['cores_busy']:.2f}, Triton {top['cores_busy']:.2f} of {cores}."]
    if top["cores_busy"] >= 0.85 * cores:
        notes.append("Triton is CPU-bound: every core is busy, so the ratio is about in-process CPU per image / "
                     "Triton's (the extra is HTTP, the ensemble's copies between three python stubs, and the clients "
                     "on the same machine).")
    else:
        notes.append("Triton leaves cores idle: the pipeline is bound by a serial step (one instance per model, the "
                     "dynamic batcher's delay, or the python stubs); more --instances or clients would raise it.")
    return notes


def summarize(args: argparse.Namespace, result: dict, machine: dict) -> dict:
    cores = machine["logical_cores"]
    local = result["local"].summary(cores=cores)
    runs = {str(c): run.summary(cores=cores) for c, run in result["runs"].items()}
    top = runs[str(max(result["runs"]))]
    ratio = top["throughput_ips"] / local["throughput_ips"]
    summary = {"machine": machine, "task": result["task"], "in_process": {**local, "batch_size": args.batch_size},
               "triton": runs, "options": result["options"], "batching": result["batching"],
               "ratio_at_max_clients": round(ratio, 3), "goal_ratio": GOAL_RATIO,
               "goal": "met" if ratio >= GOAL_RATIO else "missed", "seconds_per_measurement": args.seconds}
    summary["bounds"] = bound_notes(summary, cores=cores)
    return summary


def markdown(summary: dict, artifact: Path) -> str:
    local, runs = summary["in_process"], summary["triton"]
    rows = [[f"in-process, batch {local['batch_size']}", local["throughput_ips"], local["p50_ms"], local["p99_ms"], "-",
             local["cores_busy"]]]
    rows += [[f"Triton, {c} client(s)", r["throughput_ips"], r["p50_ms"], r["p99_ms"],
              round(r["throughput_ips"] / local["throughput_ips"], 3), r["cores_busy"]] for c, r in runs.items()]
    machine = summary["machine"]
    return "\n\n".join([
        f"# Serving benchmark ({summary['task']}, `{artifact}`)",
        f"{machine['cpu']}, {machine['logical_cores']} logical cores, "
        f"load at start {machine['load_average_at_start']}; "
        f"{summary['seconds_per_measurement']:.0f} s per measurement; options {summary['options']}.",
        table(["run", "images/s", "p50 ms", "p99 ms", "x in-process", "cores busy"], rows),
        f"Ratio with {max(int(c) for c in runs)} clients: **{summary['ratio_at_max_clients']:.3f}x** "
        f"(goal >= {summary['goal_ratio']}x: {summary['goal']}). "
        f"In-process p50/p99 are per batch of {local['batch_size']}.",
        "What bounds it:\n" + "\n".join(f"- {note}" for note in summary["bounds"]),
        f"Dynamic batches formed (batch size: executions): {json.dumps(summary['batching'])}",
    ]) + "\n"
