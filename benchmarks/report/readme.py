"""README's figures, written from the stored results, never typed by hand.

``python -m benchmarks.report --readme`` rewrites two blocks of README.md: the parity block
(``benchmarks.report.parity``: RESULTS-parity.json, RESULTS.json, RESULTS-gpu.json) and the speed block
between ``BEGIN`` and ``END`` from benchmarks/RESULTS.json (the all-backends run), RESULTS-seg640.json
(the 640 segmentation run) and RESULTS-serving.json (Triton vs in-process). Every ratio is
``speed_ratio``'s: the median of per-round ratios with its IQR
(``beit_runtime.planning.timing.per_round_ratio``). A test holds README's blocks equal to what this
module writes, so a figure edited by hand fails it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from beit_runtime.errors import InputError
from beit_runtime.tasks import task

from ..backends import REGISTRY
from . import parity as parity_block
from .analysis import speed_ratio
from .tables import table

BENCHMARKS_DIR = Path(__file__).resolve().parents[1]
README = BENCHMARKS_DIR.parent / "README.md"
BEGIN = ("<!-- figures:begin: written by `python -m benchmarks.report --readme` from benchmarks/RESULTS*.json; "
         "do not edit -->")
END = "<!-- figures:end -->"
BASELINE = "ort-fp32"  # the row every figure is a ratio to

Results = Mapping[str, Any]


@dataclass(frozen=True)
class StoredResults:
    """The result files the README's figures come from."""

    latency: Results
    segmentation_640: Results
    serving: Results
    parity: Results
    gpu: Results

    @classmethod
    def load(cls, folder: Path = BENCHMARKS_DIR) -> StoredResults:
        def read(name: str) -> Results:
            path = folder / name
            if not path.is_file():
                raise InputError(f"{path} is missing: the README's figures are written from it")
            return json.loads(path.read_text(encoding="utf-8"))

        names = ("RESULTS.json", "RESULTS-seg640.json", "RESULTS-serving.json", "RESULTS-parity.json",
                 "RESULTS-gpu.json")
        return cls(*(read(name) for name in names))


def _ratio_cell(model: Results, row: str, batch: str) -> str:
    if row == BASELINE:
        return "1.00x"
    ratio = speed_ratio(dict(model), row, BASELINE, batch)
    return "-" if ratio is None else f"{ratio['median']:.2f}x [{ratio['q1']:.2f}-{ratio['q3']:.2f}]"


def _measured_rows(model: Results) -> list[str]:
    """Registry rows (in registry order) with engine timings in ``model``; retired rows are not listed."""
    measured = [name for name in REGISTRY if (model["backends"].get(name) or {}).get("batches")]
    return sorted(measured, key=lambda name: name != BASELINE)  # the baseline first, then registry order


def _baseline_title(model: Results) -> str:
    derived = model.get("derived", {}).get(BASELINE, {})
    shares = [f"{derived[b]['pct_sgemm']:.0f}% of sgemm at batch {b}" for b in model["batch_sizes"]
              if "pct_sgemm" in derived.get(b, {})]
    title = REGISTRY[BASELINE].title
    return f"{title} ({', '.join(shares)})" if shares else title


def _top1(accuracy: Results, row: str) -> str:
    measured = (accuracy.get("rows") or {}).get(row) or {}
    return f"{measured['top1'] * 100:.2f}%" if "top1" in measured else "-"


def speed_table(results: Results) -> str:
    """Rows x batch sizes of the first image-classification model: ratios to ONNX Runtime fp32 [IQR], and top-1."""
    model = _classification_model(results)
    batches = list(model["batch_sizes"])
    rows = [[_baseline_title(model) if name == BASELINE else REGISTRY[name].title,
             *(_ratio_cell(model, name, b) for b in batches), _top1(results.get("accuracy") or {}, name)]
            for name in _measured_rows(model)]
    return table(["backend", *(f"batch {b}" for b in batches), "digits held-out top-1"], rows)


def _classification_model(results: Results) -> Results:
    for model in results["models"]:
        if task(model["task"]).evaluation == "classification":
            return model
    raise InputError("the results hold no image-classification model; the README's speed table needs one "
                     "(run `python benchmarks/latency.py` with a classification --model)")


def _machine(machine: Results) -> str:
    flags = machine.get("cpu_flags") or []
    return f"{machine['cpu']}" + (f" with {', '.join(flags)}" if flags else "") + f", {machine['threads_used']} threads"


def _baseline_p50(model: Results) -> str:
    batches = model["backends"][BASELINE]["batches"]
    return ", ".join(
        f"{batches[b]['engine']['p50_ms']:.0f} ms at batch {b}" for b in model["batch_sizes"] if b in batches
    )


def _segmentation_line(run: Results) -> str:
    model = run["models"][0]
    p50_s = model["backends"][BASELINE]["batches"]["1"]["engine"]["p50_ms"] / 1e3
    others = [
        f"{REGISTRY[name].title} {_ratio_cell(model, name, '1')}" for name in _measured_rows(model) if name != BASELINE
    ]
    baseline = f"{model['name']} at {model['height']}: {REGISTRY[BASELINE].title} {p50_s:.2f} s per image"
    return "; ".join([baseline, *others])


def _preprocessing_line(results: Results) -> str:
    parts = []
    for model in results["models"]:
        pre = model.get("preprocessing") or {}
        if "speedup" in pre:
            low, high = pre["speedup_iqr"]
            parts.append(f"{pre['speedup']:.2f}x [{low:.2f}-{high:.2f}] at {model['height']}")
    return ", ".join(parts)


def readme_figures(stored: StoredResults) -> str:
    """The block between the markers (markers included)."""
    results = stored.latency
    model = _classification_model(results)
    serving = stored.serving
    clients = max(serving["triton"], key=int)
    lines = [
        BEGIN,
        f"- Speed ({_machine(results['machine'])}; {model['name']}, one interleaved run of",
        "  `python benchmarks/latency.py`; details and the missed goals in benchmarks/RESULTS.md), as the median",
        f"  of per-round speed ratios to ONNX Runtime fp32 [IQR] (whose p50 is {_baseline_p50(model)}):",
        "",
        *("  " + line for line in speed_table(results).splitlines()),
        "",
        f"  {_segmentation_line(stored.segmentation_640)}.",
        f"  Preprocessing vs the HF processor: {_preprocessing_line(results)} (both call the same Pillow resize).",
        f"  Triton with {clients} clients: {serving['ratio_at_max_clients']:.2f}x the in-process throughput at batch "
        f"{serving['in_process']['batch_size']}.",
        END,
    ]
    return "\n".join(lines)


def readme_blocks(stored: StoredResults) -> list[tuple[str, str, str]]:
    """(begin marker, end marker, block) of every generated block of README, in file order."""
    parity = parity_block.parity_figures(parity=stored.parity, latency=stored.latency, gpu=stored.gpu)
    return [(parity_block.BEGIN, parity_block.END, parity), (BEGIN, END, readme_figures(stored))]


def readme_block(text: str, *, begin: str = BEGIN, end: str = END) -> str:
    """README's current block (markers included); InputError when the markers are missing or out of order."""
    start = text.find(begin)
    stop = text.find(end, max(start, 0))
    if start < 0 or stop < start:
        raise InputError(f"README.md has no figures block: expected a line {begin!r} and, after it, {end!r}; "
                         "put both where the figures belong and run `python -m benchmarks.report --readme`")
    return text[start:stop + len(end)]


def stale_blocks(text: str, stored: StoredResults) -> list[str]:
    """The begin markers of README's blocks that differ from what ``--readme`` would write."""
    return [begin for begin, end, block in readme_blocks(stored) if readme_block(text, begin=begin, end=end) != block]


def write_readme(readme: Path = README, stored: StoredResults | None = None) -> bool:
    """Rewrite README's generated blocks; True when one changed."""
    text = readme.read_text(encoding="utf-8")
    new = text
    for begin, end, block in readme_blocks(stored or StoredResults.load()):
        new = new.replace(readme_block(new, begin=begin, end=end), block)
    if new == text:
        return False
    readme.write_text(new, encoding="utf-8")
    return True
