"""The parts of the GPU room that only run on an NVIDIA GPU: the kernel breakdown and the PyTorch rows.
CI has no GPU, so these skip there; on the GPU machine they run on the tiny classifier."""

from __future__ import annotations

import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ON_GPU = torch.cuda.is_available()
pytestmark = pytest.mark.skipif(not ON_GPU, reason="needs an NVIDIA GPU visible to PyTorch (CUDA)")


def test_kernel_breakdown_sees_the_kernels():
    from benchmarks.gpu.kernels import kernel_breakdown

    x = torch.randn(256, 256, device="cuda")
    breakdown = kernel_breakdown(lambda: x @ x, calls=3)
    assert breakdown["device_us_per_call"] > 0 and breakdown["kernels"]


def test_torch_rows_time_eager_and_record_compile_outcomes():
    from benchmarks.gpu.torch_rows import torch_rows
    from tests.tiny_models import tiny_model

    rows = torch_rows(tiny_model("beit", "image-classification"), batch_sizes=(1,), shape=(3, 32, 32),
                      compile_batch_sizes=(1,), deadline=time.monotonic() + 300)
    eager = [row for row in rows if row["variant"] == "pytorch-eager-fp16"]
    assert eager and np.isfinite(eager[0]["p50_ms"])
    compiled = [row for row in rows if row["variant"] == "torch-compile-cudagraph-fp16"]
    assert compiled and ("p50_ms" in compiled[0] or "error" in compiled[0])
