"""The OpenVINO engine: same protocol and results as ONNX Runtime, thread-safe, bf16 only where the CPU has it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import skimage.data

from beit_runtime import Classifier, FeatureExtractor, MaskedImageModeler, Segmenter
from beit_runtime.engines import load_engine
from beit_runtime.errors import InputError, PrecisionUnavailableError

ov_engine = pytest.importorskip("beit_runtime.engines.openvino_engine", reason="needs openvino (the openvino extra)")
BF16 = ov_engine.bf16_supported()
NO_BF16_REASON = f"this CPU has no bf16 units (OpenVINO capabilities: {list(ov_engine.cpu_capabilities())})"
PHOTOS = [np.ascontiguousarray(getattr(skimage.data, name)()) for name in ("astronaut", "chelsea", "coffee")]


def _both(artifact, task_class, **options):
    return task_class(artifact, backend="onnxruntime", **options), task_class(artifact, backend="openvino", **options)


def _pixels(batch: int, height: int = 32, width: int = 32) -> np.ndarray:
    return np.random.default_rng(batch * 1000 + height).standard_normal((batch, 3, height, width)).astype(np.float32)


def test_engine_matches_onnxruntime_and_checks_feeds(beit_classifier_artifact):
    graph = beit_classifier_artifact / "model.onnx"
    with load_engine(graph, backend="openvino", intra_op_threads=1) as ov, load_engine(graph) as ort:
        def described(engine):
            return [(s.name, s.dtype, s.shape[1:]) for s in engine.inputs]

        assert described(ov) == described(ort)
        assert ov.inputs[0].shape[0] is None  # dynamic batch stays dynamic
        for batch in (1, 3):
            feeds = {"pixel_values": _pixels(batch)}
            np.testing.assert_allclose(ov.run(feeds)["logits"], ort.run(feeds)["logits"], atol=1e-4, rtol=1e-4)
        with pytest.raises(InputError, match="dtype"):
            ov.run({"pixel_values": _pixels(1).astype(np.float64)})
        with pytest.raises(InputError, match="axis 2"):
            ov.run({"pixel_values": _pixels(1, 40)})
        with pytest.raises(InputError, match="missing"):
            ov.run({"pixels": _pixels(1)})
    with pytest.raises(InputError, match="closed"):
        ov.run({"pixel_values": _pixels(1)})


def test_dynamic_resolution(beit_dynamic_classifier_artifact):
    graph = beit_dynamic_classifier_artifact / "model.onnx"
    with load_engine(graph, backend="openvino") as ov, load_engine(graph) as ort:
        for shape in ((1, 32, 32), (2, 48, 64), (1, 64, 24)):
            feeds = {"pixel_values": _pixels(*shape)}
            np.testing.assert_allclose(ov.run(feeds)["logits"], ort.run(feeds)["logits"], atol=1e-4, rtol=1e-4)


def test_task_classes_on_openvino_match_onnxruntime(beit_classifier_artifact, beit_backbone_artifact,
                                                     beit_mim_artifact, beit_segmentation_artifact):
    ort, ov = _both(beit_classifier_artifact, Classifier)
    assert ov.backend == "openvino" and ort.backend == "onnxruntime"
    assert [p.id for p in ov(PHOTOS[0], top_k=5)] == [p.id for p in ort(PHOTOS[0], top_k=5)]
    np.testing.assert_allclose(ov.logits(PHOTOS), ort.logits(PHOTOS), atol=1e-4, rtol=1e-4)
    ort, ov = _both(beit_backbone_artifact, FeatureExtractor)
    np.testing.assert_allclose(ov.extract(PHOTOS), ort.extract(PHOTOS), atol=1e-4, rtol=1e-4)
    ort, ov = _both(beit_mim_artifact, MaskedImageModeler)
    masks = np.random.default_rng(3).random((len(PHOTOS), ov.num_patches)) < 0.4
    np.testing.assert_allclose(ov.logits(PHOTOS, masks), ort.logits(PHOTOS, masks), atol=1e-4, rtol=1e-4)
    ort, ov = _both(beit_segmentation_artifact, Segmenter)
    for a, b in zip(ov(PHOTOS), ort(PHOTOS), strict=True):
        assert (a.labels == b.labels).mean() >= 0.999 and a.labels.shape == b.labels.shape


def test_threads_give_serial_results(beit_classifier_artifact):
    jobs = [PHOTOS[i % 3] if i % 2 else PHOTOS[: 1 + i % 3] for i in range(12)]
    with Classifier(beit_classifier_artifact, backend="openvino", batch_size=2, intra_op_threads=1) as model:
        serial = [model.logits(job) for job in jobs]
        with ThreadPoolExecutor(max_workers=4) as pool:
            parallel = list(pool.map(model.logits, jobs * 2))
    for expected, actual in zip(serial * 2, parallel, strict=True):
        np.testing.assert_array_equal(actual, expected)


def test_bf16_needs_openvino(beit_classifier_artifact):
    with pytest.raises(InputError, match="openvino"):
        Classifier(beit_classifier_artifact, precision="bf16", backend="onnxruntime")


@pytest.mark.skipif(BF16, reason="this CPU has bf16 units: the refusal cannot be seen")
def test_bf16_is_refused_without_bf16_units(beit_classifier_artifact):
    with pytest.raises(PrecisionUnavailableError, match="avx512_bf16 or AMX"):
        Classifier(beit_classifier_artifact, precision="bf16")
    with pytest.raises(PrecisionUnavailableError):
        load_engine(beit_classifier_artifact / "model.onnx", backend="openvino", inference_precision="bf16")


@pytest.mark.skipif(not BF16, reason=NO_BF16_REASON)
def test_bf16_runs_within_its_tolerance(beit_classifier_artifact):
    with Classifier(beit_classifier_artifact, precision="bf16") as bf16, Classifier(beit_classifier_artifact) as fp32:
        assert bf16.backend == "openvino"
        reference, values = fp32.logits(PHOTOS), bf16.logits(PHOTOS)
    assert np.linalg.norm(values - reference) / np.linalg.norm(reference) < 5e-2
