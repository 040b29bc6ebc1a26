"""Segmentation at batch 1: the model graph then the fused post-process graph (upsample + argmax).

``host``: both graphs with numpy in and out (logits go to the host and back). ``device``: the model
runs through IO binding (a CUDA graph at batch 1 where ONNX Runtime captures one), its logits stay on
the device (``run_on_device``) and feed the post-process graph there; only the label map comes back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from beit_runtime.engines import load_engine
from beit_runtime.engines.onnxruntime_binding import to_host

from .ort_rows import pixel_feeds
from .timing import iterations_for, timed


def _label(variant: str, mode: str, stats: dict[str, Any]) -> None:
    print(f"[gpu] seg {variant:>12} {mode:>7} b1 p50 {stats['p50_ms']:8.3f} ms", flush=True)


def segmentation_rows(model_graph: Path, postprocess_graph: Path, *, variant: str, providers: list[str],
                      size: tuple[int, int], cuda_graphs: bool, dry_run: bool) -> list[dict[str, Any]]:
    target = np.asarray(size, dtype=np.int64)
    warmup, iterations = iterations_for(1, dry_run=dry_run)
    iterations = max(3, iterations // 3)
    rows = []
    with load_engine(model_graph, providers=providers, io_binding=False) as model, \
            load_engine(postprocess_graph, providers=providers, io_binding=False) as post:
        feeds = pixel_feeds(model, batch=1)

        def host() -> np.ndarray:
            return post.run({"logits": model.run(feeds)["logits"], "target_size": target})["labels"]

        stats = timed(host, batch=1, warmup=warmup, iterations=iterations)
        _label(variant, "host", stats)
        rows.append({"variant": variant, "mode": "host", "batch": 1, **stats})
        reference = host()
    graph_sizes = (1,) if cuda_graphs else ()
    with load_engine(model_graph, providers=providers, io_binding=True, cuda_graph_batch_sizes=graph_sizes) as model, \
            load_engine(postprocess_graph, providers=providers, io_binding=True) as post:

        def device() -> np.ndarray:
            logits = model.run_on_device(feeds)["logits"]
            return to_host(post.run_on_device({"logits": logits, "target_size": target})["labels"],
                           counter=post.copies)

        stats = timed(device, batch=1, warmup=warmup, iterations=iterations)
        _label(variant, "device", stats)
        labels = device()
        rows.append({"variant": variant, "mode": "device", "batch": 1, **stats,
                     "cuda_graph": 1 in model.cuda_graphs_captured,
                     "cuda_graph_fallback": model.cuda_graph_fallbacks.get(1),
                     "model_copies": model.copy_counts(), "postprocess_copies": post.copy_counts(),
                     "pixel_agreement_with_host": float(np.mean(labels == reference))})
    return rows
