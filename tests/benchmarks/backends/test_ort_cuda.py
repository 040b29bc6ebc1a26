"""The ONNX Runtime CUDA rows: registered for fp32/fp16, unavailable with a reason where there is no CUDA
provider, and (on a GPU machine) running the tiny classifier in each I/O mode."""

from __future__ import annotations

import numpy as np
import onnxruntime
import pytest

from benchmarks.backends import REGISTRY
from benchmarks.backends.ort_cuda import CUDA, MODES, OrtCudaBackend, cuda_provider_missing, ort_cuda_factory
from benchmarks.workload.jobs import BackendJob, ModelInfo, TimingPlan

HAS_CUDA = CUDA in onnxruntime.get_available_providers()


def _job(backend: str, artifact: str = "a", graphs: tuple[str, ...] = ("fp32",)) -> BackendJob:
    model = ModelInfo(name="m", task="image-classification", artifact_dir=artifact, hf_dir="h", height=32, width=32,
                      config={"patch_size": 8}, graph_variants=graphs)
    return BackendJob(backend=backend, model=model, threads=1, batch_sizes=(1, 2), plan=TimingPlan(), photos=())


def test_rows_are_registered_with_their_graph():
    rows = {name: spec for name, spec in REGISTRY.items() if name.startswith("ort-cuda")}
    assert set(rows) == {"ort-cuda-fp32", "ort-cuda-fp16", "ort-cuda-fp16-iobound", "ort-cuda-fp16-cudagraph"}
    assert rows["ort-cuda-fp32"].graph == "fp32" and rows["ort-cuda-fp16-cudagraph"].graph == "fp16"
    with pytest.raises(ValueError, match="mode must be one of"):
        ort_cuda_factory("fp16", "pinned")


@pytest.mark.skipif(HAS_CUDA, reason="checks the reason given where onnxruntime has no CUDA provider")
def test_unavailable_without_the_cuda_provider():
    reason = REGISTRY["ort-cuda-fp16"].unavailable(_job("ort-cuda-fp16", graphs=("fp32", "fp16")))
    assert reason == cuda_provider_missing() and "beit-deploy[gpu]" in reason


@pytest.mark.skipif(not HAS_CUDA, reason="needs onnxruntime-gpu and an NVIDIA GPU (CUDAExecutionProvider)")
@pytest.mark.parametrize("mode", MODES)
def test_rows_run_on_the_gpu(beit_classifier_artifact, mode):
    backend = OrtCudaBackend(_job("ort-cuda-fp32", str(beit_classifier_artifact)), precision="fp32", mode=mode)
    try:
        logits = backend.engine_call(2)()["logits"]
        assert logits.shape == (2, 10) and np.isfinite(logits).all()
    finally:
        backend.close()
