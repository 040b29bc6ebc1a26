"""Writing an evaluation: a table for the terminal, JSON lines, a Markdown report and a plot.

The plot (accuracy against images per second, one point per variant) needs matplotlib, an optional
dependency: without it the Markdown report is written and says how to get the plot.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..datasets.discovery import PLOT_FILE, REPORT_FILE
from ..output_files import remove_left_temporaries, write_atomically, write_with
from ..planning.machine import describe, machine_description
from ..tasks import task
from .evaluate import EvaluationReport, VariantResult

# figures shown as they are, not as a percentage (a cosine similarity of 0.99996 is not "100.00%")
PLAIN_FIGURES = {"cosine": 5}


def _cell(row: dict[str, float], name: str) -> str:
    if name not in row:
        return "-"
    digits = PLAIN_FIGURES.get(name)
    return f"{row[name]:.{digits}f}" if digits is not None else f"{100 * row[name]:.2f}%"


def _columns(report: EvaluationReport) -> tuple[str, ...]:
    """The task's metrics, agreement, then any other figure the rows carry (a backbone's cosine)."""
    named = (*task(report.task).evaluation_metrics, "agreement")
    more = sorted({name for result in report.measured for name in result.figures} - set(named))
    return (*named, *more)


def table(report: EvaluationReport) -> str:
    """A fixed-width table: one row per variant, figures as percentages, unavailable variants with why."""
    columns = _columns(report)
    lines = [f"{'variant':<22}{'images':>8}" + "".join(f"{name:>16}" for name in columns) + f"{'images/s':>12}"]
    for result in report.results:
        row = result.as_json()
        head = f"{result.variant.name:<22}{result.images:>8}"
        if result.unavailable:
            lines.append(f"{head}  unavailable: {result.unavailable.splitlines()[0]}")  # whole: it names the fix
            continue
        figures = "".join(f"{_cell(row, name):>16}" for name in columns)
        lines.append(f"{head}{figures}{row['images_per_s']:>12.1f}")
    if report.skipped:
        lines.append(f"{len(report.skipped)} unreadable image(s) skipped, e.g. {report.skipped[0][0]}")
    return "\n".join(lines)


def json_lines(report: EvaluationReport) -> str:
    return "\n".join(json.dumps(result.as_json(), sort_keys=True) for result in report.results)


def markdown(report: EvaluationReport, *, plot: str | None) -> str:
    columns = _columns(report)
    rows = ["| variant | images | " + " | ".join(columns) + " | images/s |",
            "|---|---:|" + "---:|" * len(columns) + "---:|"]
    for result in report.measured:
        row = result.as_json()
        figures = " | ".join(_cell(row, name) for name in columns)
        rows.append(f"| {result.variant.name} | {result.images} | {figures} | {row['images_per_s']:.1f} |")
    unavailable = [f"- {r.variant.name}: {r.unavailable.splitlines()[0]}" for r in report.results if r.unavailable]
    parts = [f"# Evaluation of `{report.artifact}`", "",
             f"Data: `{report.data}` ({report.task}"
             f"{'; ' + report.selection if report.selection else ''}); machine: {describe(machine_description())}.",
             "",
             "Agreement: the fraction of decisions (top-1 per image, label per pixel, nearest neighbour per "
             "embedding) equal to fp32 on ONNX Runtime. images/s: the task-class call (preprocessing, engine, "
             "post-processing), decoding excluded.",
             "", *rows, ""]
    if unavailable:
        parts += ["Not run on this machine:", *unavailable, ""]
    if report.skipped:
        skipped = [f"- `{path}`: {why}" for path, why in report.skipped]
        parts += [f"{len(report.skipped)} unreadable image(s) skipped:", *skipped, ""]
    if report.notes:
        parts += ["Not read as data:", *(f"- {note}" for note in report.notes), ""]
    parts.append(f"![accuracy against speed]({plot})" if plot else
                 "No plot: it needs matplotlib (`pip install \"beit-deploy[bench]\"`).")
    return "\n".join(parts) + "\n"


def _plot(results: list[VariantResult], *, metric: str, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axes = plt.subplots(figsize=(6, 4), dpi=120)
    for result in results:
        row = result.as_json()
        axes.scatter(row["images_per_s"], 100 * row.get(metric, row["agreement"]))
        axes.annotate(result.variant.name, (row["images_per_s"], 100 * row.get(metric, row["agreement"])),
                      textcoords="offset points", xytext=(4, 4), fontsize=8)
    axes.set_xlabel("images per second (this machine)")
    axes.set_ylabel(f"{metric} (%)")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    write_with(path, figure.savefig)
    plt.close(figure)
    return True


def write_report(report: EvaluationReport, folder: Path) -> Path:
    """``folder/evaluation.md`` (and the plot beside it when matplotlib is installed); returns the report path."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in (PLOT_FILE, REPORT_FILE):
        remove_left_temporaries(folder / name)
    metric = task(report.task).headline_metric
    plotted = _plot(report.measured, metric=metric, path=folder / PLOT_FILE)
    text = markdown(report, plot=PLOT_FILE if plotted else None)
    write_atomically(folder / REPORT_FILE, text)
    return folder / REPORT_FILE
