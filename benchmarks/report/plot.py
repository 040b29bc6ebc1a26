"""PNG plot: p50 latency vs batch size per backend (solid: engine only, dashed: end to end)."""

from __future__ import annotations

from pathlib import Path


def _series(model: dict, mode: str) -> dict[str, tuple[list[int], list[float]]]:
    series = {}
    for name, result in model["backends"].items():
        points = sorted((int(batch), entry[mode]["p50_ms"]) for batch, entry in (result.get("batches") or {}).items()
                        if mode in entry)
        if points:
            series[name] = ([b for b, _ in points], [ms for _, ms in points])
    return series


def _draw(axis, model: dict) -> None:
    colors = {name: f"C{index}" for index, name in enumerate(model["backends"])}
    batches: set[int] = set()
    for mode, style in (("engine", "-"), ("end_to_end", "--")):
        for name, (xs, p50) in _series(model, mode).items():
            label = name if mode == "engine" else f"{name} (end to end)"
            axis.plot(xs, p50, style, marker="o", color=colors[name], label=label)
            batches.update(xs)
    axis.set_title(f"{model['name']} ({model['height']}x{model['width']}); solid: engine, dashed: end to end",
                   fontsize=9)
    axis.set_xlabel("batch size")
    axis.set_ylabel("p50 latency (ms)")
    axis.set_xscale("log", base=2)
    axis.set_yscale("log")
    if batches:
        axis.set_xticks(sorted(batches), [str(b) for b in sorted(batches)])
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def plot_latency(results: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = results["models"]
    figure, axes = plt.subplots(1, max(1, len(models)), figsize=(9.0 * max(1, len(models)), 4.8), squeeze=False)
    for axis, model in zip(axes[0], models, strict=False):  # no models: one empty axis
        _draw(axis, model)
    machine = results["machine"]
    figure.suptitle(f"{machine['cpu']}, {machine['threads_used']} threads" +
                    (f", GPU {machine['gpu']}" if machine["gpu"] else ""), fontsize=9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
