"""Segmenter vs transformers (model + BeitImageProcessorPil + post_process_semantic_segmentation) and vs a
plain PyTorch re-statement of mmseg's slide inference, on an artifact exported by the real pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage import data

from beit_export.checkpoint import checkpoint_from_model, processor_from_recipe
from beit_export.options import ExportOptions
from beit_export.pipeline import export_artifact
from beit_runtime.errors import InputError
from beit_runtime.segmenter import SegmentationResult, Segmenter
from beit_runtime.sliding import rescale_to_scale
from tests.export.modeling.test_segmentation import lively_segmentation_model

PHOTOS = {
    "astronaut": data.astronaut(),
    "chelsea": data.chelsea(),
    "coffee": data.coffee(),
    "rocket": data.rocket(),
    "small": data.astronaut()[100:117, 200:223],
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = lively_segmentation_model()
    folder = export_artifact(checkpoint_from_model(model), output=tmp_path_factory.mktemp("seg") / "artifact",
                             options=ExportOptions(photos=False))
    return model, folder


def _transformers_labels(model, preprocessing, image):
    processor = processor_from_recipe(preprocessing)
    with torch.no_grad():
        outputs = model(**processor(images=image, return_tensors="pt"))
    labels = processor.post_process_semantic_segmentation(outputs, target_sizes=[image.shape[:2]])[0].numpy()
    return labels, outputs.logits


@pytest.mark.parametrize("fused", [True, False])
def test_whole_mode_matches_transformers(exported, fused):
    model, folder = exported
    with Segmenter(folder, fused_postprocess=fused, batch_size=2) as segmenter:
        assert (segmenter.postprocess is not None) == fused
        results = segmenter.segment(list(PHOTOS.values()))
        preprocessing = segmenter.manifest.preprocessing.to_json()
    for (name, image), result in zip(PHOTOS.items(), results, strict=True):
        expected, _ = _transformers_labels(model, preprocessing, image)
        assert result.labels.dtype == np.int32 and result.labels.shape == image.shape[:2], name
        assert (result.labels == expected).mean() >= 0.999, name
    assert sum(len(result.present()) for result in results) > len(results)  # not a constant map


def test_batched_equals_single_and_inputs_of_any_kind(exported, tmp_path):
    import cv2

    _, folder = exported
    images = list(PHOTOS.values())
    path = tmp_path / "coffee.png"
    cv2.imwrite(str(path), cv2.cvtColor(PHOTOS["coffee"], cv2.COLOR_RGB2BGR))
    with Segmenter(folder, batch_size=3) as segmenter:
        batched = segmenter(images)
        singles = [segmenter(image) for image in images]
        from_path = segmenter(str(path))
        from_bgr = segmenter(PHOTOS["coffee"][:, :, ::-1].copy(), channel_order="bgr")
    assert isinstance(singles[0], SegmentationResult)
    for one, many in zip(singles, batched, strict=True):
        np.testing.assert_array_equal(one.labels, many.labels)
    np.testing.assert_array_equal(from_path.labels, singles[2].labels)
    np.testing.assert_array_equal(from_bgr.labels, singles[2].labels)


def test_scores_are_upsampled_logits(exported):
    model, folder = exported
    image = PHOTOS["chelsea"]
    with Segmenter(folder) as segmenter:
        result = segmenter(image, return_scores=True)
        preprocessing = segmenter.manifest.preprocessing.to_json()
    _, logits = _transformers_labels(model, preprocessing, image)
    expected = F.interpolate(logits, size=image.shape[:2], mode="bilinear", align_corners=False)[0].numpy()
    assert result.scores.shape == (10, *image.shape[:2]) and result.scores.dtype == np.float32
    assert np.abs(result.scores - expected).max() <= 1e-4
    np.testing.assert_array_equal(result.labels, result.scores.argmax(axis=0))


def _reference_slide(model, preprocessing, image, *, crop, stride):
    """mmseg's EncoderDecoder.slide_inference, restated with the PyTorch model."""
    processor = processor_from_recipe(dict(preprocessing, do_resize=False))
    pixels = processor(images=image, return_tensors="pt")["pixel_values"]
    height, width = pixels.shape[2:]
    pixels = F.pad(pixels, (0, max(crop[1] - width, 0), 0, max(crop[0] - height, 0)))
    padded_h, padded_w = pixels.shape[2:]
    grid_h = max(padded_h - crop[0] + stride[0] - 1, 0) // stride[0] + 1
    grid_w = max(padded_w - crop[1] + stride[1] - 1, 0) // stride[1] + 1
    preds = torch.zeros((1, 10, padded_h, padded_w))
    count = torch.zeros((1, 1, padded_h, padded_w))
    for row in range(grid_h):
        for col in range(grid_w):
            y2, x2 = min(row * stride[0] + crop[0], padded_h), min(col * stride[1] + crop[1], padded_w)
            y1, x1 = max(y2 - crop[0], 0), max(x2 - crop[1], 0)
            with torch.no_grad():
                logits = model(pixel_values=pixels[:, :, y1:y2, x1:x2]).logits
            logits = F.interpolate(logits, size=(y2 - y1, x2 - x1), mode="bilinear", align_corners=False)
            preds += F.pad(logits, (x1, padded_w - x2, y1, padded_h - y2))
            count[:, :, y1:y2, x1:x2] += 1
    return (preds / count)[0, :, :height, :width]


@pytest.mark.parametrize(("shape", "stride"), [((75, 101), None), ((75, 101), 16), ((20, 27), None)])
def test_slide_mode_matches_reference(exported, shape, stride):
    model, folder = exported
    image = np.ascontiguousarray(PHOTOS["chelsea"][100 : 100 + shape[0], 150 : 150 + shape[1]])
    with Segmenter(folder, mode="slide", stride=stride, batch_size=4) as segmenter:
        assert segmenter.crop_size == (32, 32) and segmenter.stride == ((stride, stride) if stride else (21, 21))
        logits = segmenter.slide_logits(image)
        result = segmenter(image, return_scores=True)
        batched = segmenter([image, PHOTOS["small"]])
        preprocessing = segmenter.manifest.preprocessing.to_json()
    expected = _reference_slide(model, preprocessing, image, crop=(32, 32), stride=segmenter.stride).numpy()
    assert logits.shape == expected.shape == (10, *shape)
    assert np.abs(logits - expected).max() <= 1e-4
    assert (result.labels == expected.argmax(axis=0)).mean() >= 0.999
    np.testing.assert_array_equal(batched[0].labels, result.labels)


def test_slide_scale_rescales_then_returns_original_size(exported):
    model, folder = exported
    image = np.ascontiguousarray(PHOTOS["coffee"][:90, :130])
    with Segmenter(folder, mode="slide", slide_scale=(128, 48)) as segmenter:
        result = segmenter(image)
        preprocessing = segmenter.manifest.preprocessing.to_json()
    scaled = rescale_to_scale(image, (128, 48))
    assert scaled.shape[:2] == (48, 69)  # min(128 / 130, 48 / 90) = 0.533: mmseg's keep_ratio rescale
    logits = _reference_slide(model, preprocessing, scaled, crop=(32, 32), stride=(21, 21))
    expected = F.interpolate(logits[None], size=image.shape[:2], mode="bilinear", align_corners=False)[0].argmax(0)
    assert result.labels.shape == image.shape[:2]
    assert (result.labels == expected.numpy()).mean() >= 0.999


def test_options_are_checked(exported):
    _, folder = exported
    with pytest.raises(InputError, match="mode"):
        Segmenter(folder, mode="tiles")
    with pytest.raises(InputError, match="crop_size"):
        Segmenter(folder, mode="slide", crop_size=48)
    with pytest.raises(InputError, match="stride"):
        Segmenter(folder, mode="slide", stride=0)
    with pytest.raises(InputError, match="gaps"):
        Segmenter(folder, mode="slide", stride=(16, 40))


@pytest.mark.parametrize("size", [(5000, 2), (2, 5000), (1, 1)])
def test_slide_mode_handles_images_thinner_than_the_scale_allows(exported, size):
    _, folder = exported
    image = np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8)
    assert rescale_to_scale(image, (512, 512)).shape[:2] in ((512, 1), (1, 512), (512, 512))
    with Segmenter(folder, mode="slide", slide_scale=(512, 512)) as segmenter:
        result = segmenter(image, return_scores=True)
    assert result.labels.shape == size and result.scores.shape[1:] == size


def test_slide_crops_under_two_patches_are_refused(own_size_segmentation_artifact):
    """UperNet max-pools the patch grid by 2: a 12-pixel crop (patch 8) would fail inside the engine."""
    with pytest.raises(InputError, match=r"crop_size \(12, 12\).*16x16"):
        Segmenter(own_size_segmentation_artifact, mode="slide", crop_size=12)
    image = np.ascontiguousarray(PHOTOS["chelsea"][:30, :40])
    with Segmenter(own_size_segmentation_artifact, mode="slide", crop_size=16) as segmenter:
        assert segmenter(image).labels.shape == (30, 40)


@pytest.mark.parametrize("options", [{"stride": 5}, {"slide_scale": (2560, 640)}, {"crop_size": 32}])
def test_slide_options_in_whole_mode_are_refused(exported, options):
    _, folder = exported
    with pytest.raises(InputError, match=f"{next(iter(options))} applies to mode='slide' only; .* drop it for"):
        Segmenter(folder, **options)
    with pytest.raises(InputError, match=r"stride, slide_scale apply to mode='slide' only; .* drop them for"):
        Segmenter(folder, stride=5, slide_scale=(2560, 640))
