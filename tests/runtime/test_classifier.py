"""Classifier vs transformers' processor + PyTorch model on real photos (tiny exported BEiT and ViT)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import skimage.data
import torch
from transformers import BeitImageProcessorPil, DeiTImageProcessorPil

from beit_runtime import Classifier, FeatureExtractor
from beit_runtime.classifier import Prediction, softmax
from beit_runtime.errors import ArtifactError, ArtifactIntegrityError, InputError, ManifestError
from tests.conftest import BEIT_PROCESSOR_CONFIG, VIT_PROCESSOR_CONFIG
from tests.tiny_models import tiny_model

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry")
CASES = {
    "beit": ("beit_classifier_artifact", BeitImageProcessorPil, BEIT_PROCESSOR_CONFIG),
    "vit": ("vit_classifier_artifact", DeiTImageProcessorPil, VIT_PROCESSOR_CONFIG),
}


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    return [np.ascontiguousarray(getattr(skimage.data, name)()) for name in PHOTOS]


def reference_probabilities(model_type: str, images: list[np.ndarray]) -> np.ndarray:
    """transformers' PIL processor (from the checkpoint's processor config) + the PyTorch model, softmax."""
    _, processor_class, config = CASES[model_type]
    processor = processor_class(**{k: v for k, v in config.items() if k != "image_processor_type"})
    pixels = processor(images=images, return_tensors="pt", input_data_format="channels_last")["pixel_values"]
    model = tiny_model(model_type, "image-classification")
    with torch.no_grad():
        return model(pixel_values=pixels).logits.softmax(-1).numpy()


@pytest.mark.parametrize("model_type", sorted(CASES))
def test_top5_matches_transformers(model_type, photos, request):
    artifact = request.getfixturevalue(CASES[model_type][0])
    expected = reference_probabilities(model_type, photos)
    labels = tiny_model(model_type, "image-classification").config.id2label
    with Classifier(artifact, batch_size=4) as classifier:
        results = classifier.classify(photos, top_k=5)
    assert len(results) == len(photos)
    for row, predictions in zip(expected, results, strict=True):
        top = np.argsort(-row, kind="stable")[:5]
        assert [p.id for p in predictions] == top.tolist()
        assert [p.label for p in predictions] == [labels[int(i)] for i in top]
        np.testing.assert_allclose([p.score for p in predictions], row[top], atol=1e-4, rtol=0)


def test_single_image_gives_one_list_and_call_is_classify(beit_classifier_artifact, photos):
    with Classifier(beit_classifier_artifact) as classifier:
        one = classifier(photos[0], top_k=3)
        listed = classifier.classify([photos[0]], top_k=3)
    assert isinstance(one, list) and all(isinstance(p, Prediction) for p in one) and len(one) == 3
    assert listed == [one]
    assert one[0].score >= one[1].score >= one[2].score


def test_top_k_larger_than_labels_is_clamped(beit_classifier_artifact, photos):
    with Classifier(beit_classifier_artifact) as classifier:
        predictions = classifier(photos[1], top_k=50)
    assert len(predictions) == 10
    assert sum(p.score for p in predictions) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("top_k", [0, -1, 2.5, True, "3"])
def test_bad_top_k(beit_classifier_artifact, photos, top_k):
    with Classifier(beit_classifier_artifact) as classifier, pytest.raises(InputError, match="top_k"):
        classifier(photos[0], top_k=top_k)


def test_batch_size_splits_without_changing_results(beit_classifier_artifact, photos):
    with (Classifier(beit_classifier_artifact, batch_size=1) as one,
          Classifier(beit_classifier_artifact, batch_size=8) as eight):
        np.testing.assert_allclose(one.logits(photos), eight.logits(photos), atol=1e-5)
        assert one.logits(photos).shape == (len(photos), 10)
        assert one.logits(photos[0]).shape == (10,)


def test_bgr_frames_and_files_give_the_rgb_result(beit_classifier_artifact, photos, tmp_path):
    import cv2

    path = tmp_path / "coffee.png"
    cv2.imwrite(str(path), photos[2][:, :, ::-1])
    with Classifier(beit_classifier_artifact) as classifier:
        reference = classifier.logits(photos[2])
        np.testing.assert_array_equal(classifier.logits(photos[2][:, :, ::-1].copy(), channel_order="bgr"), reference)
        np.testing.assert_array_equal(classifier.logits(path), reference)
        np.testing.assert_array_equal(classifier.logits(path.read_bytes()), reference)


def test_softmax_is_stable():
    probabilities = softmax(np.array([[1000.0, 1000.0, -1000.0]], dtype=np.float32))
    np.testing.assert_allclose(probabilities, [[0.5, 0.5, 0.0]])


def test_wrong_task_class_is_refused(beit_classifier_artifact):
    with pytest.raises(ManifestError, match=r"'image-classification' artifact.*use Classifier"):
        FeatureExtractor(beit_classifier_artifact)


@pytest.mark.parametrize(
    "options, error, message",
    [
        ({"precision": "fp8"}, InputError, "precision"),
        ({"backend": "tvm"}, InputError, "backend"),
        ({"batch_size": 0}, InputError, "batch_size"),
        ({"precision": "fp16"}, ManifestError, "no 'fp16' graph"),
        ({"backend": "tensorrt"}, ManifestError, "TensorRT engine"),
    ],
)
def test_bad_options(beit_classifier_artifact, options, error, message):
    with pytest.raises(error, match=message):
        Classifier(beit_classifier_artifact, **options)


def test_tampered_or_foreign_artifacts_are_refused(beit_classifier_artifact, tmp_path):
    copy = shutil.copytree(beit_classifier_artifact, tmp_path / "copy")
    with open(copy / "model.onnx", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ArtifactIntegrityError, match="re-export"):
        Classifier(copy)
    with pytest.raises(ArtifactError, match="could not load"):  # unchecked, the broken graph still fails typed
        Classifier(copy, verify_files=False)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["schema_version"] = 99
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match="schema version"):
        Classifier(copy, verify_files=False)
    with pytest.raises(ManifestError, match="does not exist"):
        Classifier(tmp_path / "missing")
