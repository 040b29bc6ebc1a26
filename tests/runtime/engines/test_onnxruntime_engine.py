"""The ONNX Runtime engine on a real exported graph: specs, runs, and feed checks with typed errors."""

from __future__ import annotations

import numpy as np
import pytest

from beit_runtime.engines import Engine, load_engine
from beit_runtime.engines.onnxruntime_engine import OnnxRuntimeEngine, default_providers
from beit_runtime.errors import ArtifactError, BackendUnavailableError, InputError


@pytest.fixture(scope="module")
def engine(beit_classifier_artifact):
    with load_engine(beit_classifier_artifact / "model.onnx", providers=["CPUExecutionProvider"]) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def mim_engine(beit_mim_artifact):
    with load_engine(beit_mim_artifact / "model.onnx", backend="onnxruntime") as loaded:
        yield loaded


def _pixels(batch: int = 2) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((batch, 3, 32, 32)).astype(np.float32)


def test_specs_and_run(engine):
    assert isinstance(engine, OnnxRuntimeEngine) and isinstance(engine, Engine)
    assert [s.name for s in engine.inputs] == ["pixel_values"] and engine.inputs[0].shape[1:] == (3, 32, 32)
    assert engine.inputs[0].dtype == np.float32 and [s.name for s in engine.outputs] == ["logits"]
    outputs = engine.run({"pixel_values": _pixels(3)})
    assert set(outputs) == {"logits"} and outputs["logits"].shape == (3, 10)
    assert "pixel_values" in repr(engine)
    assert engine.providers == ("CPUExecutionProvider",)


def test_default_provider_order():
    assert default_providers(["CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"]) == [
        "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


@pytest.mark.parametrize(
    "feeds, message",
    [
        ({"pixels": _pixels()}, "missing \\['pixel_values'\\], unexpected \\['pixels'\\]"),
        ({}, "missing"),
        ({"pixel_values": _pixels(), "extra": _pixels()}, "unexpected \\['extra'\\]"),
        ({"pixel_values": _pixels().astype(np.float64)}, "dtype float64, expected pixel_values: float32"),
        ({"pixel_values": _pixels().astype(np.float16)}, "dtype float16"),
        ({"pixel_values": _pixels()[0]}, "expected rank 4"),
        ({"pixel_values": np.zeros((2, 3, 32, 33), np.float32)}, "size 33 on axis 3, expected 32"),
        ({"pixel_values": np.zeros((2, 1, 32, 32), np.float32)}, "size 1 on axis 1, expected 3"),
        ({"pixel_values": np.zeros((0, 3, 32, 32), np.float32)}, "empty on axis 0"),
        ({"pixel_values": _pixels().tolist()}, "must be a numpy array"),
    ],
)
def test_bad_feeds_raise_input_error(engine, feeds, message):
    with pytest.raises(InputError, match=message):
        engine.run(feeds)


def test_feeds_must_be_a_mapping(engine):
    with pytest.raises(InputError, match="mapping"):
        engine.run([_pixels()])


def test_two_inputs_checked_by_name_and_dtype(mim_engine):
    assert [s.name for s in mim_engine.inputs] == ["pixel_values", "bool_masked_pos"]
    masks = np.zeros((2, 16), dtype=bool)
    assert mim_engine.run({"pixel_values": _pixels(), "bool_masked_pos": masks})["logits"].shape[:2] == (2, 16)
    with pytest.raises(InputError, match="bool_masked_pos' has dtype int64"):
        mim_engine.run({"pixel_values": _pixels(), "bool_masked_pos": masks.astype(np.int64)})
    with pytest.raises(InputError, match="size 15 on axis 1, expected 16"):
        mim_engine.run({"pixel_values": _pixels(), "bool_masked_pos": masks[:, :15]})


def test_closed_engine_refuses_to_run(beit_classifier_artifact):
    engine = load_engine(beit_classifier_artifact / "model.onnx")
    engine.close()
    with pytest.raises(InputError, match="closed"):
        engine.run({"pixel_values": _pixels()})


def test_load_errors(beit_classifier_artifact, tmp_path):
    with pytest.raises(ArtifactError, match="does not exist"):
        load_engine(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a graph")
    with pytest.raises(ArtifactError, match="could not load"):
        load_engine(tmp_path / "junk.onnx")
    with pytest.raises(InputError, match="backend"):
        load_engine(beit_classifier_artifact / "model.onnx", backend="tvm")
    with pytest.raises(BackendUnavailableError, match="not available"):
        load_engine(beit_classifier_artifact / "model.onnx", providers=["NoSuchExecutionProvider"])
    with pytest.raises(InputError, match="optimization_level"):
        OnnxRuntimeEngine(beit_classifier_artifact / "model.onnx", optimization_level="max")


def _graph_that_reads_past_its_table(path):
    """pixel_values (batch, 3) -> Gather of a 4-row table at row ``batch``: valid inputs, out of bounds from 4 on."""
    from onnx import TensorProto, helper, numpy_helper, save

    table = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3), "table")
    nodes = [helper.make_node("Shape", ["pixel_values"], ["shape"], start=0, end=1),
             helper.make_node("Gather", ["table", "shape"], ["logits"], axis=0)]
    graph = helper.make_graph(nodes, "reads-past", [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT,
                                                                                  ["batch", 3])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3])], [table])
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_an_engine_failure_on_checked_inputs_is_a_typed_error_naming_the_graph(tmp_path):
    from beit_runtime.errors import EngineRunError

    with load_engine(_graph_that_reads_past_its_table(tmp_path / "reads-past.onnx")) as engine:
        assert engine.run({"pixel_values": np.zeros((2, 3), np.float32)})["logits"].tolist() == [[6.0, 7.0, 8.0]]
        with pytest.raises(EngineRunError, match=r"reads-past\.onnx on inputs \{'pixel_values': \(5, 3\)\}.*"
                                                 r"out of data bounds.*report it") as raised:
            engine.run({"pixel_values": np.zeros((5, 3), np.float32)})
        assert isinstance(raised.value, RuntimeError) and not isinstance(raised.value, InputError)
        with pytest.raises(InputError):  # the engine's own checks stay InputErrors
            engine.run({"pixel_values": np.zeros((5, 4), np.float32)})
