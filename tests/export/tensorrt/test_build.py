"""TensorRT engine builds: option checks and profiles everywhere; real builds where TensorRT and a GPU exist."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest

from beit_export.cli import exit_code
from beit_export.errors import ExportError, TensorRTCompatibilityError
from beit_export.options import ExportOptionsError
from beit_export.tensorrt import TensorRTBuildOptions, build_engine, default_sizes, profile_shapes
from beit_runtime.errors import BackendUnavailableError
from beit_runtime.manifest import InputRecord, TensorRecord, load_manifest
from tests.export.precision_graphs import tiny_graphs
from tests.export.tensorrt.support import pixel_input, tensorrt_unavailable_reason, write_artifact

TENSORRT_REASON = tensorrt_unavailable_reason()
LOGITS = [{"name": "logits", "dtype": "float32", "shape": ["batch", 10]}]


@pytest.fixture(scope="module")
def classifier_artifact(tmp_path_factory):
    graphs = tiny_graphs("image-classification")
    variants = {v: graphs.path(v) for v in ("fp32", "fp16", "int8", "int8-qdq")}
    folder = tmp_path_factory.mktemp("trt") / "artifact"
    return write_artifact(folder, variants, task="image-classification", inputs=[pixel_input()], outputs=LOGITS)


def _tensors(records):
    return [TensorRecord.from_json(record, "test input") for record in records]


def test_static_profile_covers_the_batch_range():
    record = InputRecord(height=32, width=32, patch_size=8)
    profile = profile_shapes(_tensors([pixel_input()]), record, batch=(1, 8, 32))
    assert profile == {"pixel_values": {"min": [1, 3, 32, 32], "opt": [8, 3, 32, 32], "max": [32, 3, 32, 32]}}


def test_dynamic_profile_sizes_height_width_and_patches():
    inputs = _tensors([pixel_input(dynamic_resolution=True),
                       {"name": "bool_masked_pos", "dtype": "bool", "shape": ["batch", "num_patches"]}])
    record = InputRecord(height=224, width=224, patch_size=16, dynamic_resolution=True)
    profile = profile_shapes(inputs, record, batch=(1, 4, 8))
    assert default_sizes((224, 224), 16) == ((112, 112), (224, 224), (448, 448))
    assert profile["pixel_values"]["max"] == [8, 3, 448, 448]
    assert profile["bool_masked_pos"]["min"] == [1, 49] and profile["bool_masked_pos"]["max"] == [8, 784]
    chosen = profile_shapes(inputs[:1], record, batch=(1, 1, 1), sizes=((224, 224), (224, 320), (320, 320)))
    assert chosen["pixel_values"]["opt"] == [1, 3, 224, 320]
    with pytest.raises(ExportError, match="multiples of the patch size"):
        profile_shapes(inputs[:1], record, batch=(1, 1, 1), sizes=((100, 100), None, None))


def test_profile_refuses_sizes_for_fixed_artifacts_and_unknown_dims():
    record = InputRecord(height=32, width=32, patch_size=8, dynamic_resolution=False)
    with pytest.raises(ExportOptionsError, match="drop --min/--opt/--max-size, or re-export with --dynamic-resolution"):
        profile_shapes(_tensors([pixel_input()]), record, batch=(1, 1, 1), sizes=(None, None, (64, 64)))
    odd = _tensors([{"name": "x", "dtype": "float32", "shape": ["batch", "tokens_plus_one"]}])
    with pytest.raises(ExportError, match="tokens_plus_one"):
        profile_shapes(odd, record, batch=(1, 1, 1))


def test_bad_options_and_graphs_fail_before_tensorrt_is_needed(classifier_artifact):
    with pytest.raises(ExportError, match="1 <= min <= opt <= max"):
        TensorRTBuildOptions(min_batch=4, opt_batch=2)
    with pytest.raises(ExportError, match="workspace_gib"):
        TensorRTBuildOptions(workspace_gib=0)
    with pytest.raises(TensorRTCompatibilityError, match="ONNX Runtime only"):
        build_engine(classifier_artifact, options=TensorRTBuildOptions(graph_variant="int8"))
    with pytest.raises(ExportOptionsError, match=r"--graph bf16: artifact .+ has no bf16 graph; pass --graph fp32"):
        build_engine(classifier_artifact, options=TensorRTBuildOptions(graph_variant="bf16"))
    assert exit_code(ExportOptionsError("")) == 2  # a usage error, as the help's exit codes say


@pytest.mark.skipif(TENSORRT_REASON is None,
                    reason="TensorRT is installed here: the unavailability path cannot be seen")
def test_missing_tensorrt_names_the_extra(classifier_artifact):
    with pytest.raises(BackendUnavailableError, match=r'`pip install "beit-deploy\[tensorrt\]"`'):
        build_engine(classifier_artifact)


def _ort(path, feeds):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)[0]


@pytest.mark.tensorrt
@pytest.mark.skipif(TENSORRT_REASON is not None, reason=str(TENSORRT_REASON))
@pytest.mark.parametrize("variant", ["fp32", "fp16", "int8-qdq"])
def test_engine_builds_records_itself_and_matches_onnxruntime(classifier_artifact, variant, tmp_path):
    from beit_runtime.engines import load_engine

    cache = tmp_path / "timing.cache"
    options = TensorRTBuildOptions(graph_variant=variant, max_batch=16, timing_cache=cache, workspace_gib=1.0)
    engine_file = build_engine(classifier_artifact, options=options)
    assert engine_file.is_file() and cache.is_file()
    manifest = load_manifest(classifier_artifact, verify_files=True)
    record = manifest.engines[variant]
    assert record.file == engine_file.name and record.graph == variant
    assert record.tensorrt_version and record.gpu_name and "." in record.compute_capability
    assert record.profile["pixel_values"].max == (16, 3, 32, 32)
    assert manifest.files[engine_file.name].bytes == engine_file.stat().st_size
    feeds = {"pixel_values": tiny_graphs("image-classification").feeds["pixel_values"][:5]}
    expected = _ort(manifest.graph_path("fp32"), feeds)
    with load_engine(engine_file) as engine:
        logits = engine.run(feeds)["logits"]
    rel = np.linalg.norm(logits - expected) / np.linalg.norm(expected)
    assert rel < {"fp32": 1e-3, "fp16": 1e-2, "int8-qdq": 0.1}[variant]
    rebuilt = build_engine(classifier_artifact, options=options)
    assert rebuilt == engine_file
    assert json.loads((classifier_artifact / "manifest.json").read_text())["engines"][variant]["file"] == rebuilt.name
