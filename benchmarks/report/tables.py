"""Render results as a printed table, a Markdown report and benchmarks/RESULTS.md."""

from __future__ import annotations

from collections.abc import Sequence

from beit_runtime.planning.plan import SLOWER_NOTE

from ..workload.flops import model_macs

STATUS_MARK = {"met": "met", "missed": "**missed**", "unsettled": "unsettled (noise wider than the margin)",
               "not measured": "not measured"}


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def cell(value: object) -> str:
        if value is None:
            return "-"
        return f"{value:,.2f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _measured(model: dict):
    for name, result in model["backends"].items():
        for batch, entry in (result.get("batches") or {}).items():
            yield name, batch, entry, (model.get("derived") or {}).get(name, {}).get(batch, {})


def _with_iqr(figures: dict, key: str) -> str | None:
    if key not in figures:
        return None
    low, high = figures.get(key + "_iqr", [None, None])
    return f"{figures[key]:.2f} [{low:.2f}-{high:.2f}]" if low is not None else f"{figures[key]:.2f}"


def _versus_fp32(figures: dict) -> str | None:
    """The row's speed against ONNX Runtime fp32, marked when its whole IQR is below 1 (never picked by tune)."""
    text = _with_iqr(figures, "vs_fp32")
    return f"{text} ({SLOWER_NOTE})" if text and figures.get("slower_than_fp32") else text


def latency_table(model: dict) -> str:
    rows = [
        (name, batch, e["engine"]["p50_ms"], e["engine"]["p90_ms"], e["engine"]["p99_ms"], e["engine"]["iterations"],
         e["engine"]["throughput_ips"], d.get("gflops"), _with_iqr(d, "pct_sgemm"), _with_iqr(d, "speedup_engine"),
         _versus_fp32(d))
        for name, batch, e, d in _measured(model)
    ]
    return table(("backend", "batch", "p50 ms", "p90 ms", "p99 ms", "n", "img/s", "GFLOP/s", "% sgemm [IQR]",
                  "vs eager [IQR]", "vs ORT fp32 [IQR]"), rows)


def end_to_end_table(model: dict) -> str:
    rows = [
        (name, batch, e["end_to_end"]["p50_ms"], e["end_to_end"]["p90_ms"], e["end_to_end"]["p99_ms"],
         e["end_to_end"]["throughput_ips"], _with_iqr(d, "speedup_end_to_end"))
        for name, batch, e, d in _measured(model) if "end_to_end" in e
    ]
    return table(("backend", "batch", "p50 ms", "p90 ms", "p99 ms", "img/s", "vs eager [IQR]"), rows)


def cold_start_table(model: dict) -> str:
    rows = []
    for name, result in model["backends"].items():
        cold = result.get("cold_start")
        if cold:
            rows.append((name, cold["cold_start_s"], cold["load_s"], cold["first_result_s"],
                         result.get("peak_rss_mib"), result.get("peak_rss_sampled_mib")))
    return table(("backend", "cold start s", "load s", "first result s", "peak RSS MiB", "sampled peak MiB"), rows)


def goals_table(goals: list[dict]) -> str:
    rows = [(g["model"], g["goal"], g["detail"], STATUS_MARK[g["status"]]) for g in goals]
    return table(("model", "goal", "measured", "status"), rows)


def _flags(machine: dict) -> str:
    flags = machine.get("cpu_flags") or []
    return f" with {', '.join(flags)}" if flags else ""


def machine_section(machine: dict, settings: dict) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    load = machine["load_average_at_start"]
    lines = [
        f"- CPU: {machine['cpu']}{_flags(machine)} "
        f"({machine['physical_cores']} physical / {machine['logical_cores']} logical "
        f"cores, {machine['memory_gib']} GiB), threads used: {machine['threads_used']}",
        f"- GPU: {machine['gpu'] or 'none'}",
        f"- OS: {machine['os']}; load average at start: {load}",
        f"- Libraries: {versions}",
        f"- Settings: batch sizes {settings['batch_sizes']}, {settings['iterations']} iterations "
        f"(capped at {settings['time_limit_s']} s per measurement), {settings['warmup']} warm-up, "
        f"quick={settings['quick']}; run on {settings['started']} in {settings.get('duration_s', '?')} s",
    ]
    if load[0] > 0.5 * machine["logical_cores"]:
        lines.append(f"- **Warning: the machine was busy when the run started (1-minute load {load[0]}); "
                     "latencies are not representative.**")
    return "\n".join(lines)


def _giga(value: float) -> str:
    return f"{value / 1e9:.2f} G" if value >= 1e8 else f"{value / 1e6:.2f} M"


def _flops_line(model: dict) -> str:
    macs = model_macs(model["config"], task=model["task"], height=model["height"], width=model["width"])
    parts = ", ".join(f"{name} {_giga(value)}" for name, value in macs.items())
    return (f"{_giga(model['flops_per_image'])}FLOPs per image = 2 x {_giga(sum(macs.values()))}MACs, counted "
            f"analytically from the config (benchmarks/workload/flops.py; MACs: {parts})")


def accuracy_table(accuracy: dict) -> str:
    rows = [(name, f"{r['top1'] * 100:.2f}%" if "top1" in r else "-", r.get("correct"), r.get("skipped", ""))
            for name, r in ((accuracy or {}).get("rows") or {}).items()]
    return accuracy_header(accuracy) + "\n\n" + table(("backend", "held-out top-1", "correct", "note"), rows)


def accuracy_header(accuracy: dict) -> str:
    """Whose accuracy the table gives: the timed artifact's own graphs, or the trained demo classifier's."""
    if not accuracy:
        return "not measured"
    model = accuracy.get("model", "?")
    if accuracy.get("not_scored"):
        return f"{model}: {accuracy['not_scored']}"
    if accuracy.get("source") == "artifact":
        return (f"{model} (the timed artifact's own graphs), {accuracy.get('held_out', '?')} held-out digits "
                "(index 1438 onwards)")
    return f"{model}, {accuracy.get('held_out', '?')} held-out digits (index 1438 onwards, never trained on)"


def accuracy_heading(accuracy: dict) -> str:
    if (accuracy or {}).get("source") == "artifact":
        return "## Accuracy of the timed artifact per backend"
    return "## Accuracy of the trained classifier per backend"


def _sgemm_table(model: dict) -> str:
    rows = [(batch, "; ".join("x".join(map(str, s)) for s in r["shapes"]), r.get("numpy_gflops"),
             r.get("torch_gflops"), r["gflops"]) for batch, r in (model.get("sgemm") or {}).items()]
    return table(("batch", "GEMM shapes (M x K x N)", "numpy GFLOP/s", "torch GFLOP/s", "reference"), rows)


def _preprocessing_lines(model: dict) -> str:
    pre = model.get("preprocessing") or {}
    if "speedup" not in pre:
        return f"not measured ({pre.get('error', 'skipped')})"
    return "\n".join([
        f"{len(pre['images'])} photos ({', '.join(pre['images'])}), decoded once, not timed.",
        "",
        table(("preprocessor", "p50 ms per set", "p90 ms", "img/s"), [
            ("beit_runtime.Preprocessor", pre["beit_runtime"]["p50_ms"], pre["beit_runtime"]["p90_ms"],
             pre["beit_runtime"]["throughput_ips"]),
            (f"transformers {pre['processor']}", pre["transformers_pil"]["p50_ms"],
             pre["transformers_pil"]["p90_ms"], pre["transformers_pil"]["throughput_ips"]),
        ]),
        "",
        f"Speed-up {pre['speedup']}x; largest difference {pre['max_diff_8bit_levels']} 8-bit levels.",
    ])


def _skipped_lines(model: dict) -> list[str]:
    lines = []
    for name, result in model["backends"].items():
        if "skipped" in result:
            lines.append(f"- {name}: skipped: {result['skipped']}")
        elif "error" in result:
            lines.append(f"- {name}: **failed**: {result['error']}")
        else:
            lines.append(f"- {name}: {result.get('notes', '')}")
    return lines


def model_section(model: dict) -> str:
    return "\n".join([
        f"## {model['name']} ({model['task']}, {model['height']}x{model['width']})", "",
        _flops_line(model), "", "Backends:", *_skipped_lines(model), "",
        "### Latency, engine only (random input tensors)", "", latency_table(model), "",
        "### End to end (image files on disk: decode + preprocess + engine + post-process)", "",
        end_to_end_table(model), "",
        "### Cold start (library import + model load + first result on one image) and peak memory", "",
        cold_start_table(model), "",
        "### sgemm reference (same run, same threads)", "", _sgemm_table(model), "",
        "### Preprocessing", "", _preprocessing_lines(model), "",
    ])


def markdown_report(results: dict, *, title: str = "beit-deploy benchmark") -> str:
    sections = [f"# {title}", "", "## Machine", "", machine_section(results["machine"], results["settings"]), "",
                "## Goals", "", goals_table(results["goals"]), "",
                accuracy_heading(results.get("accuracy") or {}), "", accuracy_table(results.get("accuracy") or {}), ""]
    sections += [model_section(model) for model in results["models"]]
    sections.append("All backends and the sgemm reference ran in their own processes with their timed iterations "
                    "interleaved round-robin; speed-ups and % of sgemm are medians of per-round ratios with their "
                    "IQR. Percent of sgemm = model GFLOP/s / the float32 matmul rate of the model's own GEMM shapes "
                    "in the same round. A goal whose IQR contains the target is 'unsettled'.")
    return "\n".join(sections) + "\n"


def printed_summary(results: dict) -> str:
    parts = []
    for model in results["models"]:
        parts += [f"{model['name']} ({model['task']}) engine only:", latency_table(model), ""]
        if any("end_to_end" in e for _, _, e, _ in _measured(model)):
            parts += ["end to end:", end_to_end_table(model), ""]
    parts += ["goals:", goals_table(results["goals"]), "", "accuracy:", accuracy_table(results.get("accuracy") or {})]
    return "\n".join(parts)
