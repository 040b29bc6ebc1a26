"""The TensorRT runtime engine: import-safe without TensorRT, strict about where an engine may run."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from beit_runtime.engines import load_engine
from beit_runtime.engines.tensorrt_engine import TensorRTEngine, check_engine_target, engine_record
from beit_runtime.errors import ArtifactError, BackendUnavailableError, EngineMismatchError, InputError
from beit_runtime.manifest import EngineRecord, update_manifest
from tests.export.precision_graphs import tiny_graphs
from tests.export.tensorrt.support import (
    cuda_unavailable_reason,
    pixel_input,
    tensorrt_unavailable_reason,
    write_artifact,
)

TENSORRT_REASON = tensorrt_unavailable_reason()
CUDA_REASON = cuda_unavailable_reason()
HERE = {"gpu_name": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0"}
RECORD = {"file": "model.fp16.plan", "graph": "fp16", "tensorrt_version": "10.13.0", **HERE}


def test_modules_import_without_tensorrt_or_torch():
    code = (
        "import sys, beit_runtime.engines.tensorrt_engine, beit_runtime.engines.tensorrt_cuda; "
        "assert 'torch' not in sys.modules and 'beit_export' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.skipif(TENSORRT_REASON is None,
                    reason="TensorRT is installed here: the unavailability path cannot be seen")
def test_constructing_without_tensorrt_names_the_extra(tmp_path):
    plan = tmp_path / "model.fp16.plan"
    plan.write_bytes(b"not an engine")
    with pytest.raises(BackendUnavailableError, match=r'`pip install "beit-deploy\[tensorrt\]"`'):
        TensorRTEngine(plan)
    with pytest.raises(BackendUnavailableError, match=r"beit-deploy\[tensorrt\]"):
        load_engine(plan)


def test_engine_built_elsewhere_is_refused_with_the_rebuild_command(tmp_path):
    record = EngineRecord.from_json(RECORD, "test engine")
    check_engine_target(record, tensorrt_version="10.13.0", device=HERE, artifact=tmp_path)
    check_engine_target(None, tensorrt_version="10.13.0", device=HERE, artifact=tmp_path)
    rebuild = rf"TensorRT 10.13.0, this machine has 11.4.0.*beit-export build-engine {tmp_path}"
    with pytest.raises(EngineMismatchError, match=rebuild):
        check_engine_target(record, tensorrt_version="11.4.0", device=HERE, artifact=tmp_path)
    other_gpu = {"gpu_name": "NVIDIA A100-SXM4-80GB", "compute_capability": "8.0"}
    with pytest.raises(EngineMismatchError, match="GPU NVIDIA H100 80GB HBM3, this machine has NVIDIA A100"):
        check_engine_target(record, tensorrt_version="10.13.0", device=other_gpu, artifact=tmp_path)


def test_engine_record_is_found_by_file_name(tmp_path):
    assert engine_record(tmp_path / "model.fp16.plan") is None
    graphs = {variant: tiny_graphs("image-classification").path(variant) for variant in ("fp32", "fp16")}
    write_artifact(tmp_path, graphs, task="image-classification", inputs=[pixel_input()], outputs=[])
    (tmp_path / "model.fp16.plan").write_bytes(b"not an engine")
    record = EngineRecord.from_json(RECORD, "test engine")
    update_manifest(tmp_path, lambda manifest: dataclasses.replace(manifest, engines={"fp16": record}))
    assert engine_record(tmp_path / "model.fp16.plan") == record
    assert engine_record(tmp_path / "model.fp32.plan") is None
    (tmp_path / "manifest.json").write_text("{broken")
    with pytest.raises(ArtifactError, match="not readable JSON"):
        engine_record(tmp_path / "model.fp16.plan")


@pytest.mark.gpu
@pytest.mark.skipif(CUDA_REASON is not None, reason=str(CUDA_REASON))
def test_staged_buffers_round_trip_through_the_gpu():
    from beit_runtime.engines.tensorrt_cuda import StagedBuffer, Stream, check, cudart, device_properties

    assert "." in device_properties(0)["compute_capability"]
    stream, source, target = Stream(), StagedBuffer(), StagedBuffer()
    for shape in [(2, 3), (64, 1000), (5,)]:  # grows, then reuses
        array = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        source.upload(array, stream)
        target.reserve(array.nbytes)
        kind = cudart().cudaMemcpyKind.cudaMemcpyDeviceToDevice
        check(cudart().cudaMemcpyAsync(target.device, source.device, array.nbytes, kind, stream.handle), "copy")
        target.start_download(array.nbytes, stream)
        stream.synchronize()
        np.testing.assert_array_equal(target.host_array(shape, np.float32), array)
    source.free()
    target.free()
    stream.close()


@pytest.fixture(scope="module")
def mim_engine(tmp_path_factory):
    from beit_export.tensorrt import TensorRTBuildOptions, build_engine
    from tests.export.precision_graphs import tiny_graphs
    from tests.export.tensorrt.support import pixel_input, write_artifact

    graphs = tiny_graphs("masked-image-modeling")
    mask = {"name": "bool_masked_pos", "dtype": "bool", "shape": ["batch", 16]}
    logits = [{"name": "logits", "dtype": "float32", "shape": ["batch", 16, 64]}]
    variants = {"fp32": graphs.path("fp32"), "fp16": graphs.path("fp16")}
    folder = write_artifact(tmp_path_factory.mktemp("trt") / "mim", variants,
                            task="masked-image-modeling", inputs=[pixel_input(), mask], outputs=logits)
    options = TensorRTBuildOptions(graph_variant="fp16", min_batch=1, opt_batch=4, max_batch=8, workspace_gib=1.0)
    plan = build_engine(folder, options=options)
    return folder, plan, graphs


def _onnxruntime(path, feeds):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["logits"], feeds)[0]


@pytest.mark.tensorrt
@pytest.mark.skipif(TENSORRT_REASON is not None, reason=str(TENSORRT_REASON))
def test_engine_runs_dynamic_batches_from_several_threads(mim_engine):
    folder, plan, graphs = mim_engine
    feeds = [{name: value[:n] for name, value in graphs.feeds.items()} for n in (1, 3, 7)]
    expected = [_onnxruntime(folder / "model.onnx", f) for f in feeds]
    with load_engine(plan) as engine:
        assert [s.name for s in engine.inputs] == ["pixel_values", "bool_masked_pos"]
        assert engine.inputs[1].dtype == np.bool_
        results = list(ThreadPoolExecutor(4).map(lambda i: engine.run(feeds[i % 3])["logits"], range(12)))
        for index, logits in enumerate(results):
            reference = expected[index % 3]
            assert logits.shape == reference.shape
            assert np.linalg.norm(logits - reference) / np.linalg.norm(reference) < 1e-2
        too_big = {name: np.repeat(value[:1], 9, axis=0) for name, value in graphs.feeds.items()}
        with pytest.raises(InputError, match="rebuild"):
            engine.run(too_big)
    with pytest.raises(InputError, match="closed"):
        engine.run(feeds[0])


@pytest.mark.tensorrt
@pytest.mark.skipif(TENSORRT_REASON is not None, reason=str(TENSORRT_REASON))
def test_engine_recorded_for_another_tensorrt_is_refused(mim_engine):
    folder, plan, _ = mim_engine
    manifest_path = folder / "manifest.json"
    original = manifest_path.read_text()
    data = json.loads(original)
    data["engines"]["fp16"]["tensorrt_version"] = "9.0.0"
    manifest_path.write_text(json.dumps(data))
    try:
        with pytest.raises(EngineMismatchError, match="beit-export build-engine"):
            TensorRTEngine(plan)
    finally:
        manifest_path.write_text(original)
