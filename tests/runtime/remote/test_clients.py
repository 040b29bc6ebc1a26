"""RemoteClassifier / RemoteSegmenter against a real Triton server: parity with the in-process classes on real
photos over HTTP and gRPC, 8 concurrent clients with dynamic batching, and error responses."""

from __future__ import annotations

import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import skimage.data

from beit_runtime import Classifier, FeatureExtractor, Segmenter
from beit_runtime.errors import ArtifactError, ImageDecodeError, ImageFormatError, InputError
from beit_runtime.remote import RemoteClassifier, RemoteFeatureExtractor, RemoteSegmenter

PROTOCOLS = ("http", "grpc")


def url(served, protocol: str) -> str:
    return served.http if protocol == "http" else f"grpc://{served.grpc}"


def assert_same_predictions(got, want) -> None:
    assert [(p.label, p.id) for p in got] == [(p.label, p.id) for p in want]
    np.testing.assert_allclose([p.score for p in got], [p.score for p in want], rtol=0, atol=1e-6)


@pytest.fixture(scope="module")
def classifier_reference(beit_classifier_artifact, photo_bytes):
    """In-process results, one image per engine run (as the server runs them one request at a time)."""
    with Classifier(beit_classifier_artifact, batch_size=1) as classifier:
        return [classifier(data, top_k=5) for data in photo_bytes]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_classifier_parity(served, protocol, beit_classifier_artifact, photo_bytes, classifier_reference, tmp_path):
    path = tmp_path / "photo.png"
    path.write_bytes(photo_bytes[1])
    array = np.ascontiguousarray(skimage.data.chelsea())
    with RemoteClassifier(url(served, protocol), "cls", max_in_flight=1) as remote, \
            Classifier(beit_classifier_artifact, batch_size=1) as local:
        for got, want in zip(remote(photo_bytes, top_k=5), classifier_reference, strict=True):
            assert_same_predictions(got, want)
        assert_same_predictions(remote(str(path), top_k=3), local(str(path), top_k=3))
        assert_same_predictions(remote(array, top_k=2), local(array, top_k=2))
        assert_same_predictions(remote(array[:, :, ::-1], top_k=2, channel_order="bgr"), local(array, top_k=2))


def test_a_multi_label_classifier_is_served_with_its_sigmoid_scores(served, vit_multilabel_artifact, photo_bytes):
    with RemoteClassifier(served.http, "multi", max_in_flight=1) as remote, \
            Classifier(vit_multilabel_artifact, batch_size=1) as local:
        assert local.score_function == "sigmoid"
        for data in photo_bytes[:2]:
            got, want = remote(data, top_k=3), local(data, top_k=3)
            assert_same_predictions(got, want)  # softmax scores of 3 of its classes would differ from want's
            assert sum(p.score for p in local(data, top_k=len(local.labels))) != pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_feature_extractor_parity(served, protocol, beit_backbone_artifact, photo_bytes):
    with RemoteFeatureExtractor(url(served, protocol), "feat", max_in_flight=1) as remote, \
            FeatureExtractor(beit_backbone_artifact, batch_size=1) as local:
        got, want = remote(photo_bytes), np.stack([local(image) for image in photo_bytes])
        assert got.dtype == np.float32 and got.shape == want.shape == (len(photo_bytes), 32)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
        np.testing.assert_allclose(remote(photo_bytes[0]), want[0], rtol=0, atol=1e-5)
        with pytest.raises(InputError, match="pooled embeddings only"):
            remote(photo_bytes[0], patch_tokens=True)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_segmenter_parity(served, protocol, beit_segmentation_artifact, photo_bytes):
    crop = np.ascontiguousarray(skimage.data.astronaut()[100:161, 200:243])
    with RemoteSegmenter(url(served, protocol), "seg", max_in_flight=1) as remote, \
            Segmenter(beit_segmentation_artifact, batch_size=1) as local:
        images = [*photo_bytes, crop]
        for got, want in zip(remote(images), [local(image) for image in images], strict=True):
            assert got.labels.dtype == np.int32 and got.labels.shape == want.labels.shape
            assert np.array_equal(got.labels, want.labels)
            assert got.present() == want.present()
        assert sum(len(local(image).present()) for image in images) > len(images)  # not a constant map


def test_eight_concurrent_clients_are_all_correct_and_batched(served, photo_bytes, classifier_reference):
    before = engine_statistics(served)["inference_count"]

    def client(index: int) -> int:
        wrong = 0
        with RemoteClassifier(url(served, PROTOCOLS[index % 2]), "cls", max_in_flight=1) as remote:
            for request in range(50):
                k = (index + request) % len(photo_bytes)
                got = remote(photo_bytes[k], top_k=5)
                wrong += [p.id for p in got] != [p.id for p in classifier_reference[k]] or not np.allclose(
                    [p.score for p in got], [p.score for p in classifier_reference[k]], rtol=0, atol=1e-6)
        return wrong

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(client, range(8))) == 0
    statistics = engine_statistics(served)
    assert statistics["inference_count"] - before == 400
    sizes = {int(entry["batch_size"]) for entry in statistics["batch_stats"]}
    assert max(sizes) > 1, statistics["batch_stats"]


def engine_statistics(served) -> dict:
    with urllib.request.urlopen(f"http://{served.http}/v2/models/cls_engine/stats", timeout=10) as reply:
        return json.loads(reply.read())["model_stats"][0]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_image_the_server_cannot_decode_is_named(served, protocol, photo_bytes, tmp_path):
    good, broken = tmp_path / "good.jpg", tmp_path / "broken.png"
    good.write_bytes(photo_bytes[0])
    broken.write_bytes(photo_bytes[1][:40])  # a PNG cut short
    with RemoteClassifier(url(served, protocol), "cls") as remote:
        with pytest.raises(ImageDecodeError, match=f"model 'cls', image {broken}: .*not a decodable image"):
            remote([good, broken])
        with pytest.raises(ImageDecodeError, match=r"model 'cls', images\[1\]: "):
            remote([photo_bytes[0], b"junk"])
        with pytest.raises(ImageDecodeError, match="model 'cls', the image: "):
            remote(b"junk")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_errors_name_the_problem_and_the_server_keeps_answering(served, protocol, photo_bytes, classifier_reference):
    with RemoteClassifier(url(served, protocol), "cls") as remote:
        with pytest.raises(ImageDecodeError, match="not a decodable image"):
            remote(b"this is not an image")
        with pytest.raises(ImageDecodeError, match="empty buffer"):
            remote(b"")
        with pytest.raises(InputError, match="unexpected inference input 'img'"):
            remote.request({"img": np.array([[photo_bytes[0]]], dtype=object)})
        with pytest.raises(InputError, match="missing required input"):
            remote.request({})
        with pytest.raises(InputError, match="expects 'BYTES'"):
            remote.request({"image": np.zeros((1, 1), dtype=np.float32)})
        with pytest.raises(InputError, match="--top-k 7"):
            remote(photo_bytes[0], top_k=7)
        with pytest.raises(ImageFormatError, match="no images given"):
            remote([])
        assert_same_predictions(remote(photo_bytes[0], top_k=5), classifier_reference[0])
    with RemoteSegmenter(url(served, protocol), "seg") as segmenter:
        two_sizes = np.array([[photo_bytes[0]], [photo_bytes[1]]], dtype=object)
        with pytest.raises(InputError, match="send one image per request"):
            segmenter.request({"image": two_sizes})
    with pytest.raises(ArtifactError, match="RemoteClassifier"):
        RemoteSegmenter(url(served, protocol), "cls")
    with pytest.raises(ArtifactError, match="unknown model"):
        RemoteClassifier(url(served, protocol), "no_such_model")
