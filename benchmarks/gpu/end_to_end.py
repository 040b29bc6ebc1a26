"""End to end on decoded photos: the CPU normalisation path against the uint8 graph that normalises on the device.

Both paths resize with Pillow on the CPU (the processor's own call); the float path then normalises on
the CPU (``Preprocessor.batch``) and feeds float32 ``pixel_values``, the uint8 path stacks the resized
uint8 pixels (``beit_runtime.device_input.uint8_batch``) and feeds the graph written by
``beit_export.graph.uint8_input``. Rows: preprocessing alone and preprocessing + engine, per batch size;
plus the drift between the two paths' outputs (the graph's table is the CPU's, so it should be 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from beit_runtime.device_input import uint8_batch
from beit_runtime.engines import load_engine
from beit_runtime.preprocess import Preprocessor

from .timing import iterations_for, timed


def photos(count: int) -> list[np.ndarray]:
    """``count`` decoded scikit-image photos (repeated), as a user's decoded images."""
    from beit_export.parity import sample_photos

    pool = [image for _, image in sample_photos()]
    return [pool[index % len(pool)] for index in range(count)]


def _row(label: str, call: Any, *, batch: int, dry_run: bool) -> dict[str, Any]:
    warmup, iterations = iterations_for(batch, dry_run=dry_run)
    stats = timed(call, batch=batch, warmup=min(warmup, 3), iterations=max(3, iterations // 10))
    print(f"[gpu] {label:>34} b{batch:<3} p50 {stats['p50_ms']:8.3f} ms {stats['throughput_ips']:10.1f} img/s",
          flush=True)
    return {"variant": label, "batch": batch, **stats}


def _batch_rows(images: list[np.ndarray], preprocessor: Preprocessor, float_engine: Any, uint8_engine: Any, *,
                dry_run: bool) -> list[dict[str, Any]]:
    batch = len(images)
    calls = {
        "cpu-normalise (preprocess only)": lambda: preprocessor.batch(images),
        "uint8-pixels (preprocess only)": lambda: uint8_batch(preprocessor, images),
        "cpu-normalise + engine": lambda: float_engine.run({"pixel_values": preprocessor.batch(images)}),
        "uint8 + device-normalise + engine": lambda: uint8_engine.run({"pixels": uint8_batch(preprocessor, images)}),
    }
    return [_row(label, call, batch=batch, dry_run=dry_run) for label, call in calls.items()]


def end_to_end_rows(float_graph: Path, uint8_graph: Path, preprocessor: Preprocessor, *,
                    options: dict[str, Any], batch_sizes: Sequence[int], dry_run: bool) -> dict[str, Any]:
    """Rows for both paths, and the drift between them on the largest batch."""
    rows = []
    drift: dict[str, float] = {}
    with load_engine(float_graph, **options) as float_engine, load_engine(uint8_graph, **options) as uint8_engine:
        for batch in batch_sizes:
            rows += _batch_rows(photos(batch), preprocessor, float_engine, uint8_engine, dry_run=dry_run)
        images = photos(max(batch_sizes))
        expected = float_engine.run({"pixel_values": preprocessor.batch(images)})
        got = uint8_engine.run({"pixels": uint8_batch(preprocessor, images)})
        for name, value in expected.items():
            drift[name] = float(np.max(np.abs(value.astype(np.float64) - got[name].astype(np.float64))))
    return {"rows": rows, "max_abs_between_paths": drift}
