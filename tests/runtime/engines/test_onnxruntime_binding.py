"""IO binding and CUDA graphs in the ONNX Runtime engine, on real exported graphs.

IO binding runs on the CPU provider too (host buffers stand in for device buffers), so buffer reuse,
copy counts, device-resident chaining and the CUDA-graph fallback are tested here for real; the
CUDA-graph capture itself needs onnxruntime-gpu and a GPU and skips without them.
"""

from __future__ import annotations

import numpy as np
import onnxruntime
import pytest

from beit_runtime.engines import load_engine
from beit_runtime.engines.onnxruntime_binding import CopyCounter, session_device, shape_key, to_host
from beit_runtime.engines.onnxruntime_cuda_graph import CudaGraphRunners, batch_of, check_batch_sizes
from beit_runtime.errors import InputError

CPU = ["CPUExecutionProvider"]
HAS_CUDA = "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def _pixels(batch: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, 3, 32, 32)).astype(np.float32)


@pytest.fixture(scope="module")
def graph(beit_classifier_artifact):
    return beit_classifier_artifact / "model.onnx"


def test_bound_runs_equal_plain_runs_and_count_copies(graph):
    with load_engine(graph, providers=CPU, io_binding=False) as plain, \
            load_engine(graph, providers=CPU, io_binding=True) as bound:
        for batch in (1, 3, 1):
            feeds = {"pixel_values": _pixels(batch, seed=batch)}
            np.testing.assert_array_equal(bound.run(feeds)["logits"], plain.run(feeds)["logits"])
        counts = bound.copy_counts()
        assert counts["host_to_device"] == counts["device_to_host"] == 3
        assert counts["host_to_device_bytes"] == sum(_pixels(b).nbytes for b in (1, 3, 1))
        assert counts["device_to_host_bytes"] == 4 * 10 * (1 + 3 + 1)
        assert plain.copy_counts()["host_to_device"] == 0  # ONNX Runtime copies host feeds itself


def test_io_binding_is_off_by_default_on_the_cpu_provider(graph):
    with load_engine(graph, providers=CPU) as engine:
        engine.run({"pixel_values": _pixels(2)})
        assert engine.copy_counts() == CopyCounter().snapshot()
        with pytest.raises(InputError, match="io_binding=True"):
            engine.run_on_device({"pixel_values": _pixels(2)})
    assert session_device(["CUDAExecutionProvider", "CPUExecutionProvider"]) == "cuda"
    assert session_device(CPU) == "cpu"


def test_buffers_are_kept_per_shape_and_reused(graph):
    with load_engine(graph, providers=CPU, io_binding=True) as engine:
        one, two = {"pixel_values": _pixels(1)}, {"pixel_values": _pixels(2)}
        engine.run(one)
        first = engine._bound.buffer_addresses(one)
        engine.run(two)
        engine.run({"pixel_values": _pixels(1, seed=5)})
        assert engine._bound.buffer_addresses(one) == first  # same buffers for the same shape
        assert engine._bound.buffer_addresses(two) != first
        assert engine._bound.shapes == (shape_key(one), shape_key(two))
        with pytest.raises(InputError, match="run those shapes first"):
            engine._bound.buffer_addresses({"pixel_values": _pixels(4)})


def test_outputs_stay_on_the_device_for_the_next_graph(beit_segmentation_artifact):
    folder = beit_segmentation_artifact
    target = np.asarray([45, 37], dtype=np.int64)
    feeds = {"pixel_values": _pixels(1)}
    with load_engine(folder / "model.onnx", providers=CPU) as model, \
            load_engine(folder / "postprocess.onnx", providers=CPU) as post:
        expected = post.run({"logits": model.run(feeds)["logits"], "target_size": target})["labels"]
    with load_engine(folder / "model.onnx", providers=CPU, io_binding=True) as model, \
            load_engine(folder / "postprocess.onnx", providers=CPU, io_binding=True) as post:
        logits = model.run_on_device(feeds)["logits"]
        assert not isinstance(logits, np.ndarray) and logits.shape() == [1, 10, 16, 16]
        labels = to_host(post.run_on_device({"logits": logits, "target_size": target})["labels"],
                         counter=post.copies)
        np.testing.assert_array_equal(labels, expected)
        assert model.copy_counts()["device_to_host"] == 0  # the logits never came back to numpy
        assert model.copy_counts()["host_to_device"] == 1
        assert post.copy_counts()["host_to_device"] == 1  # only target_size was uploaded
        assert post.copy_counts()["device_to_host"] == 1
        with pytest.raises(InputError, match="engine inputs are"):
            post.run_on_device({"logits": logits})
        with pytest.raises(InputError, match="dtype float64"):
            model.run_on_device({"pixel_values": _pixels(1).astype(np.float64)})


def test_cuda_graph_batch_sizes_need_the_cuda_provider(graph):
    with pytest.raises(InputError, match="needs the session to run on CUDAExecutionProvider"):
        load_engine(graph, providers=CPU, cuda_graph_batch_sizes=(1, 8))
    with pytest.raises(InputError, match="needs IO binding"):
        load_engine(graph, providers=CPU, io_binding=False, cuda_graph_batch_sizes=(1,))
    for sizes in ((0,), (1, -2), (True,), (1.5,)):
        with pytest.raises(InputError, match="positive integers"):
            check_batch_sizes(sizes, providers=["CUDAExecutionProvider"])
    assert check_batch_sizes((32, 1, 8, 1), providers=["CUDAExecutionProvider"]) == (1, 8, 32)
    assert check_batch_sizes((), providers=CPU) == ()


def test_batch_of_reads_the_shared_leading_axis():
    assert batch_of({"a": np.zeros((4, 3)), "b": np.zeros((4, 2), bool)}) == 4
    assert batch_of({"a": np.zeros((4, 3)), "b": np.zeros((2, 3))}) is None


def test_cuda_graph_routing_falls_back_to_the_plain_session(graph):
    """Batch sizes not asked for, a second image size at a claimed batch size, and a session whose buffers
    cannot be made on CUDA (here: a CPU-only ONNX Runtime session) all run on the plain session."""
    made = []

    def make_session(batch: int):
        made.append(batch)
        return onnxruntime.InferenceSession(str(graph), providers=CPU)

    with load_engine(graph, providers=CPU, io_binding=True) as engine:
        runners = CudaGraphRunners((1, 2), make_session=make_session, ort=onnxruntime, output_names=["logits"],
                                   counter=engine.copies, probe_outputs=engine.run_on_device)
        assert runners.runner_for({"pixel_values": _pixels(3)}) is None and made == []
        if not HAS_CUDA:
            assert runners.runner_for({"pixel_values": _pixels(1)}) is None
            assert made == [1] and "could not capture" in runners.fallbacks[1]
            assert runners.runner_for({"pixel_values": _pixels(1)}) is None and made == [1]  # not retried
        other_size = {"pixel_values": np.zeros((2, 3, 40, 40), np.float32)}
        runners.runner_for({"pixel_values": _pixels(2)})
        assert runners.runner_for(other_size) is None
        assert runners.captured == ()
    engine.close()
    with pytest.raises(InputError, match="closed"):
        engine.run_on_device({"pixel_values": _pixels(1)})


@pytest.mark.skipif(not HAS_CUDA, reason="needs onnxruntime-gpu and an NVIDIA GPU (CUDAExecutionProvider)")
def test_cuda_graphs_capture_each_batch_size_asked_for(graph):
    cuda = ["CUDAExecutionProvider"]
    with load_engine(graph, providers=cuda, io_binding=False) as plain, \
            load_engine(graph, providers=cuda, cuda_graph_batch_sizes=(1, 2)) as graphed:
        for batch in (1, 2, 3, 1, 2):
            feeds = {"pixel_values": _pixels(batch, seed=batch)}
            np.testing.assert_allclose(graphed.run(feeds)["logits"], plain.run(feeds)["logits"], atol=1e-4)
        assert graphed.cuda_graphs_captured == (1, 2) and graphed.cuda_graph_fallbacks == {}
