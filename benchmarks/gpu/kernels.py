"""Where the GPU time of one engine call goes: CUDA kernels recorded by PyTorch's profiler (CUPTI sees
every kernel of the process, ONNX Runtime's included), summed by kernel name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def kernel_breakdown(call: Callable[[], object], *, calls: int = 10, top: int = 15) -> dict[str, Any]:
    """Total device time per call and the ``top`` kernels by time (microseconds per call)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    for _ in range(3):
        call()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as recorded:
        for _ in range(calls):
            call()
        torch.cuda.synchronize()
    events = [event for event in recorded.key_averages() if getattr(event, "device_time_total", 0) > 0]
    events.sort(key=lambda event: event.device_time_total, reverse=True)
    total = sum(event.device_time_total for event in events)
    return {"device_us_per_call": round(total / calls, 1), "kernels": [
        {"name": event.key[:120], "us_per_call": round(event.device_time_total / calls, 1),
         "launches_per_call": round(event.count / calls, 1)} for event in events[:top]]}
