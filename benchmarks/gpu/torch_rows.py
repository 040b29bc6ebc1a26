"""PyTorch rows on the GPU: eager fp16 and torch.compile (mode "reduce-overhead", i.e. CUDA graphs) fp16,
on the same random-init weights the exporter used (``load_checkpoint(..., random_init=True, seed=0)``),
plus the fp32 reference outputs (TF32 off) the ONNX Runtime rows are judged against."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .timing import iterations_for, timed


def load_model(model_id: str, *, task: str, seed: int = 0) -> Any:
    from beit_export.checkpoint import load_checkpoint

    model = load_checkpoint(model_id, random_init=True, task=task, seed=seed).model
    model.config._attn_implementation = "sdpa"
    return model.eval()


def reference_outputs(model: Any, feeds: Mapping[str, np.ndarray], *,
                      output_names: Sequence[str]) -> dict[str, np.ndarray]:
    """fp32 outputs on the GPU with TF32 off (the parity reference of the ONNX Runtime rows)."""
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    gpu = model.float().cuda()
    with torch.inference_mode():
        result = gpu(**{name: torch.from_numpy(value).cuda() for name, value in feeds.items()})
    return {name: result[name].float().cpu().numpy() for name in output_names}


def _rows(call_for: Any, *, label: str, batch_sizes: Sequence[int], shape: Sequence[int],
          deadline: float) -> list[dict[str, Any]]:
    import torch

    rows = []
    for batch in batch_sizes:
        if time.monotonic() > deadline:
            rows.append({"variant": label, "batch": batch, "skipped": "out of time on the device"})
            continue
        x = torch.randn(batch, *shape, device="cuda", dtype=torch.float16)
        call = call_for(x)
        warmup, iterations = iterations_for(batch, dry_run=False)
        started = time.monotonic()
        try:
            stats = timed(call, batch=batch, warmup=warmup, iterations=iterations, synchronize=torch.cuda.synchronize)
        except RuntimeError as error:  # torch.compile's CUDA-graph trees refused this model on torch 2.11 (2026-12-04)
            rows.append({"variant": label, "batch": batch, "error": str(error)[:400]})
            continue
        rows.append({"variant": label, "mode": "device tensors", "batch": batch, **stats,
                     "setup_s": round(time.monotonic() - started, 1)})
        print(f"[gpu] {label:>24} b{batch:<3} p50 {stats['p50_ms']:8.3f} ms {stats['throughput_ips']:10.1f} img/s",
              flush=True)
    return rows


def torch_rows(model: Any, *, batch_sizes: Sequence[int], shape: Sequence[int], compile_batch_sizes: Sequence[int],
               deadline: float) -> list[dict[str, Any]]:
    """Eager fp16 rows, then torch.compile + CUDA graph fp16 rows until ``deadline`` (time.monotonic)."""
    import torch

    torch.backends.cuda.matmul.allow_tf32 = True
    half = model.half().cuda()

    def eager(x: Any) -> Any:
        def call() -> Any:
            with torch.inference_mode():
                return half(pixel_values=x)
        return call

    rows = _rows(eager, label="pytorch-eager-fp16", batch_sizes=batch_sizes, shape=shape, deadline=deadline)
    compiled = torch.compile(half, mode="reduce-overhead")

    def graphed(x: Any) -> Any:
        def call() -> Any:
            with torch.no_grad():  # inference_mode tensors broke cudagraph trees' pool check (torch 2.11)
                return compiled(pixel_values=x)
        return call

    return rows + _rows(graphed, label="torch-compile-cudagraph-fp16", batch_sizes=compile_batch_sizes,
                        shape=shape, deadline=deadline)
