"""Images whose tensors differ in size (recipes that keep each image's size or aspect ratio, graphs exported with
--dynamic-resolution): lists of mixed sizes run each size as its own batch, results in input order and equal to
transformers'; an image smaller than the graph can run is refused with a typed error before anything runs."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from beit_runtime import Classifier, FeatureExtractor, Segmenter
from beit_runtime.cli import main as beit_run
from beit_runtime.errors import ImageFormatError
from tests.tiny_models import tiny_model


def _image(height: int, width: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _transformers_logits(image: np.ndarray) -> np.ndarray:
    """The tiny model (seed 0) on the do_resize-false BEiT recipe: rescale + normalise 0.5/0.5, no resize."""
    pixels = torch.from_numpy(((image.astype(np.float32) / 255 - 0.5) / 0.5).transpose(2, 0, 1)[None].copy())
    with torch.no_grad():
        return tiny_model("beit", "image-classification")(pixel_values=pixels).logits[0].numpy()


def test_lists_of_mixed_sizes_run_and_match_transformers(own_size_classifier_artifact):
    images = [_image(24, 24, 0), _image(16, 40, 1), _image(24, 24, 2), _image(8, 8, 3), _image(16, 40, 4)]
    with Classifier(own_size_classifier_artifact, batch_size=2) as classifier:
        logits = classifier.logits(images)
        alone = [classifier.logits(image) for image in images]
        ranked = classifier(images, top_k=1)
    assert logits.shape == (5, 10)
    for index, image in enumerate(images):
        np.testing.assert_allclose(logits[index], _transformers_logits(image), atol=1e-4, rtol=0)
        np.testing.assert_allclose(logits[index], alone[index], atol=1e-5, rtol=0)
        assert ranked[index][0].id == int(np.argmax(alone[index]))


def test_pooled_embeddings_and_label_maps_of_mixed_sizes(own_size_classifier_artifact,
                                                         own_size_segmentation_artifact):
    images = [_image(16, 16, 5), _image(24, 40, 6), _image(16, 16, 7)]
    with Segmenter(own_size_segmentation_artifact, batch_size=2) as segmenter:
        maps = segmenter(images, return_scores=True)
        alone = [segmenter(image, return_scores=True) for image in images]
    for image, one, many in zip(images, alone, maps, strict=True):
        assert many.labels.shape == image.shape[:2]
        np.testing.assert_allclose(many.scores, one.scores, atol=1e-5, rtol=0)
    with Classifier(own_size_classifier_artifact) as classifier, \
            pytest.raises(ImageFormatError, match="different shapes"):  # (n, ...) cannot hold both token counts
        classifier.attentions(images)


@pytest.mark.parametrize(("shape", "minimum"), [((5, 40), 8), ((40, 7), 8)])
def test_an_image_under_one_patch_is_refused_before_running(own_size_classifier_artifact, shape, minimum):
    with Classifier(own_size_classifier_artifact) as classifier:
        with pytest.raises(ImageFormatError, match=rf"{shape[0]}x{shape[1]} \(height x width\).*{minimum}x{minimum}"):
            classifier(_image(*shape, 0))
        with pytest.raises(ImageFormatError, match=r"^image at index 1 \(of 2\): .*pad or resize") as refused:
            classifier([_image(16, 16, 1), _image(*shape, 0)])
        assert refused.value.index == 1  # a service can reject that upload alone
        with pytest.raises(ImageFormatError, match=r"^image at index 2: ") as refused:  # drawn lazily, 2 at a time
            Classifier(own_size_classifier_artifact, batch_size=2)(iter([_image(16, 16, 1)] * 2 + [_image(*shape, 0)]))
        assert refused.value.index == 2
        assert len(classifier(_image(8, 8, 2))) == 5  # one patch is enough


def test_segmentation_needs_two_patches_per_side(own_size_segmentation_artifact):
    with Segmenter(own_size_segmentation_artifact) as segmenter:
        with pytest.raises(ImageFormatError, match=r"12x40 \(height x width\).*16x16"):
            segmenter(_image(12, 40, 0))
        assert segmenter(_image(16, 17, 1)).labels.shape == (16, 17)


def test_beit_run_names_a_too_small_image_and_runs_the_others(own_size_classifier_artifact, tmp_path, capsys):
    good, strip = tmp_path / "good.png", tmp_path / "strip.png"
    cv2.imwrite(str(good), _image(16, 24, 0))
    cv2.imwrite(str(strip), _image(5, 40, 1))
    assert beit_run([str(own_size_classifier_artifact), str(good), str(strip), "--top-k", "1"]) == 3
    out, err = capsys.readouterr()
    assert str(good) in out and "class_" in out
    assert f"beit-run: error: {strip}: a 5x40 (height x width) image" in err and "Traceback" not in err
    assert beit_run([str(own_size_classifier_artifact), str(good), str(strip), "--json"]) == 3
    refused = [json.loads(line) for line in capsys.readouterr().out.splitlines()][-1]
    assert refused["image"] == str(strip) and refused["error"] == "ImageFormatError"
    assert refused["reason"].startswith("a 5x40 (height x width) image")


def test_feature_extractor_pooled_embeddings_of_mixed_sizes(tmp_path_factory):
    from beit_export.options import ExportOptions
    from beit_export.pipeline import export_artifact
    from tests.conftest import tiny_checkpoint
    from tests.runtime.conftest import ASPECT_RECIPE

    folder = export_artifact(tiny_checkpoint("beit", "backbone", processor_config=ASPECT_RECIPE),
                             output=tmp_path_factory.mktemp("artifacts") / "backbone-aspect",
                             options=ExportOptions(dynamic_resolution=True, photos=False))
    images = [_image(30, 30, 0), _image(30, 60, 1)]
    with FeatureExtractor(folder) as extractor:
        pooled = extractor(images)
        alone = [extractor(image) for image in images]
    np.testing.assert_allclose(pooled, np.stack(alone), atol=1e-5, rtol=0)
