"""The RESULTS.md section of the GPU runs: ``python -m benchmarks.gpu.report [benchmarks/RESULTS-gpu.json]``.

Reads the JSON the device runs wrote (``measure``'s output, one entry per run) and prints Markdown:
the latency table (p50 ms and images/s per batch size), parity against PyTorch fp32 on the GPU, the
end-to-end and segmentation rows, the kernel breakdown and the issue's goals with the measured figure.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

DEFAULT = Path(__file__).resolve().parents[1] / "RESULTS-gpu.json"
GOAL_B32_IPS = 7353.0  # torch.compile + CUDA graph fp16 at batch 32 on the same kind of machine (field notes)
GOAL_B1_MS = 1.5
GOAL_SEG_MS = 8.0
# torch.compile + CUDA graph fp16, BEiT-base-224, measured 12-04 on the same kind of machine (field notes,
# "GPU anchors"); the compile rows of these runs stopped with a cudagraph-trees error on torch 2.11
COMPILE_ANCHOR = "0.94 ms b1, 1.54 ms b8, 4.35 ms b32 (7,353 img/s)"
BEGIN, END = "<!-- gpu-report:begin -->", "<!-- gpu-report:end -->"


def _stage(run: dict[str, Any], name: str) -> Any:
    return run["stages"].get(name, {}).get("value")


def _cell(row: dict[str, Any] | None) -> str:
    return "-" if row is None else f"{row['p50_ms']:.2f} ms ({row['throughput_ips']:,.0f}/s)"


def latency_table(runs: list[dict[str, Any]]) -> list[str]:
    lines = ["| run | graph | I/O | b1 | b8 | b32 |", "|---|---|---|---|---|---|"]
    for number, run in enumerate(runs, start=1):
        rows = (_stage(run, "classifier_ort") or []) + (_stage(run, "classifier_torch") or [])
        keys = list(dict.fromkeys((row["variant"], row.get("mode", "")) for row in rows if "p50_ms" in row))
        for variant, mode in keys:
            by_batch = {row["batch"]: row for row in rows if (row["variant"], row.get("mode", "")) == (variant, mode)
                        and "p50_ms" in row}
            lines.append(f"| {number} | {variant} | {mode} | " + " | ".join(_cell(by_batch.get(b)) for b in (1, 8, 32))
                         + " |")
    return lines


def parity_table(runs: list[dict[str, Any]]) -> list[str]:
    lines = ["| graph | rel-L2 | max-abs | top-1 agreement | fp16/fp32 tolerances |", "|---|---|---|---|---|"]
    seen = set()
    for run in runs:
        parity = _stage(run, "classifier_parity") or {"variants": {}}
        for variant, outputs in parity["variants"].items():
            if variant in seen:
                continue
            seen.add(variant)
            m = outputs["logits"]
            verdict = "within" if not m["failures"] else "outside: " + "; ".join(m["failures"])
            lines.append(f"| {variant} | {m['rel_l2']:.2e} | {m['max_abs']:.2e} | {m['top1_agreement']:.3f} | "
                         f"{verdict} |")
    return lines


def segmentation_table(runs: list[dict[str, Any]]) -> list[str]:
    lines = ["| graph | path | b1 p50 | CUDA graph | pixels equal to the host path |", "|---|---|---|---|---|"]
    for run in runs:
        for row in _stage(run, "segmentation_640") or []:
            agreement = row.get("pixel_agreement_with_host")
            lines.append(f"| {row['variant']} | {row['mode']} | {row['p50_ms']:.2f} ms | "
                         f"{'yes' if row.get('cuda_graph') else '-'} | "
                         f"{'-' if agreement is None else f'{agreement:.4f}'} |")
    return lines


def end_to_end_table(runs: list[dict[str, Any]]) -> list[str]:
    lines = ["| graph | path | b1 | b8 | b32 |", "|---|---|---|---|---|"]
    for run in runs:
        stage = _stage(run, "classifier_end_to_end")
        if not stage:
            continue
        graph = stage.get("graph", "fp16-fused")  # the runs of 2026-12-04 used the fp16-fused graph
        labels = list(dict.fromkeys(row["variant"] for row in stage["rows"]))
        for label in labels:
            by_batch = {row["batch"]: row for row in stage["rows"] if row["variant"] == label}
            lines.append(f"| {graph} | {label} | " + " | ".join(_cell(by_batch.get(b)) for b in (1, 8, 32)) + " |")
    return lines


def kernel_lines(runs: list[dict[str, Any]], *, top: int = 6) -> list[str]:
    lines = []
    for run in runs:
        for name, breakdown in (_stage(run, "classifier_kernels") or {}).items():
            parts = ", ".join(f"{k['name'][:48]} {k['us_per_call'] / 1000:.2f} ms" for k in breakdown["kernels"][:top])
            lines.append(f"- {name}: {breakdown['device_us_per_call'] / 1000:.2f} ms of device time per call; {parts}")
    return lines


def _best(runs: list[dict[str, Any]], batch: int, key: str, *, norms: bool) -> dict[str, Any] | None:
    rows = [row for run in runs for row in _stage(run, "classifier_ort") or [] if row["batch"] == batch
            and (norms or "norms" not in row["variant"])]
    if not rows:
        return None
    return max(rows, key=lambda row: row["throughput_ips"]) if key == "ips" else min(rows, key=lambda r: r["p50_ms"])


def goals(runs: list[dict[str, Any]]) -> list[str]:
    seg = min((row for run in runs for row in _stage(run, "segmentation_640") or []), default=None,
              key=lambda row: row["p50_ms"])
    lines = []
    scopes = ((False, "graphs without --fused-norms"), (True, "all graphs, --fused-norms and experiments included"))
    for norms, scope in scopes:
        b32, b1 = _best(runs, 32, "ips", norms=norms), _best(runs, 1, "ms", norms=norms)
        if b32 is not None:
            met = "met" if b32["throughput_ips"] >= GOAL_B32_IPS else "NOT met"
            lines.append(f"- batch 32 >= {GOAL_B32_IPS:,.0f} img/s ({scope}): {met}, best "
                         f"{b32['throughput_ips']:,.0f} img/s ({b32['variant']}, {b32['mode']})")
        if b1 is not None:
            met = "met" if b1["p50_ms"] <= GOAL_B1_MS else "NOT met"
            lines.append(f"- batch 1 <= {GOAL_B1_MS} ms ({scope}): {met}, best {b1['p50_ms']:.2f} ms "
                         f"({b1['variant']}, {b1['mode']})")
    if seg is not None:
        met = "met" if seg["p50_ms"] <= GOAL_SEG_MS else "NOT met"
        lines.append(f"- segmentation 640 batch 1 <= {GOAL_SEG_MS} ms: {met}, best {seg['p50_ms']:.2f} ms "
                     f"({seg['variant']}, {seg['mode']})")
    return lines


def _compile_errors(runs: list[dict[str, Any]]) -> str:
    errors = [row for run in runs for row in _stage(run, "classifier_torch") or [] if "error" in row]
    return f"the compile row failed in {len(errors)} of {len(runs)} runs" if errors else "no compile row here"


def section(data: dict[str, Any]) -> str:
    """The RESULTS.md block, between its markers."""
    return f"{BEGIN}\n{render(data)}{END}"


def render(data: dict[str, Any]) -> str:
    runs = data["runs"]
    env = runs[0]["environment"]
    sections = [
        f"GPU: {env.get('gpu', data.get('gpu'))}; onnxruntime-gpu {env['onnxruntime']}, torch {env.get('torch')}, "
        f"Python {env['python']}. Latency: wall clock of `Engine.run` (numpy in, numpy out) through "
        "`load_engine`, p50.", "", *latency_table(runs), "",
        f"torch.compile + CUDA graph fp16 (field notes' anchor on the same kind of machine, not re-measured: "
        f"{_compile_errors(runs)}): {COMPILE_ANCHOR}.", "", "Parity (8 random images, reference PyTorch fp32 "
        "on the GPU with TF32 off):", "", *parity_table(runs), "",
        "End to end on decoded photos (IO binding):", "", *end_to_end_table(runs), "",
        "Segmentation 640 (BEiT-base + UperNet), model "
        "graph then the post-process graph:", "", *segmentation_table(runs), "", "Kernel time at batch 32:", "",
        *kernel_lines(runs), "", "Goals (issue 21):", "", *goals(runs)]
    return "\n".join(sections) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", type=Path, default=DEFAULT)
    args = parser.parse_args(argv)
    print(render(json.loads(args.results.read_text(encoding="utf-8"))), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
