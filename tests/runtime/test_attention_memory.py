"""The attention memory guard: a dynamic-resolution artifact whose recipe keeps each image's size (or follows its
aspect ratio) refuses an image whose attention would not fit, before it runs, instead of being killed for memory.

Sizes here are arithmetic only: nothing large is allocated (big images are zero-strided views) or run."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

import beit_runtime.attention as attention
from beit_runtime import Classifier
from beit_runtime.attention_memory import (
    SERVED_ATTENTION_BYTES,
    attention_bytes,
    attention_max_image_pixels,
    check_attention_fits,
    check_images_attention,
    check_served_attention,
    fitting_batch_size,
    image_tokens,
    max_tokens,
)
from beit_runtime.errors import ImageError, ImageTooLargeError, InputError, ManifestError
from beit_runtime.manifest import InputRecord, load_manifest, update_manifest
from beit_runtime.preprocess import Preprocessor

GIB = 2**30
TINY = InputRecord(height=32, width=32, patch_size=8, dynamic_resolution=True, num_attention_heads=2)
BASE = InputRecord(height=224, width=224, patch_size=16, dynamic_resolution=True, num_attention_heads=12)
RECIPE = {"do_resize": False, "size": {"height": 224, "width": 224}, "resample": "bilinear", "do_rescale": True,
          "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": [0.5] * 3, "image_std": [0.5] * 3}
KEEP_SIZE = Preprocessor.from_manifest(RECIPE)
SHORTEST_EDGE = Preprocessor.from_manifest({**RECIPE, "do_resize": True, "size": {"shortest_edge": 224}})


def image(height: int, width: int) -> np.ndarray:
    """A height x width RGB image that takes no memory (every pixel is the same byte)."""
    return np.broadcast_to(np.zeros((1, 1, 3), dtype=np.uint8), (height, width, 3))


def test_the_input_record_keeps_the_heads_and_reads_manifests_written_without_them():
    assert InputRecord.from_json(TINY.to_json()) == TINY and TINY.to_json()["num_attention_heads"] == 2
    old = {key: value for key, value in TINY.to_json().items() if key != "num_attention_heads"}
    assert InputRecord.from_json(old).num_attention_heads is None and "num_attention_heads" not in (
        InputRecord.from_json(old).to_json())
    with pytest.raises(ManifestError, match="'num_attention_heads' must be at least 1"):
        InputRecord.from_json({**old, "num_attention_heads": 0})


def test_an_export_records_the_models_heads(beit_dynamic_classifier_artifact):
    assert load_manifest(beit_dynamic_classifier_artifact).input.num_attention_heads == 2  # tests/tiny_models.py


def test_a_photo_whose_attention_cannot_fit_is_refused_naming_its_tokens_memory_and_fix():
    # a 4000x3000 photo at patch 8: 500 x 375 patches + CLS; 4 x 2 heads x 187,501^2 x 4 bytes = 1.1 TB
    assert image_tokens(TINY, 4000, 3000) == 187_501
    with pytest.raises(ImageTooLargeError) as refused:
        check_attention_fits(batch=1, height=4000, width=3000, record=TINY, backend="onnxruntime", available=16 * GIB)
    message = str(refused.value)
    assert isinstance(refused.value, InputError) and isinstance(refused.value, ImageError)
    for part in ("4000x3000", "187,501 tokens", "1,072,895 MiB on onnxruntime", "16,384 MiB of memory available",
                 "resize the image to at most 1,048,512 pixels", "re-export"):
        assert part in message, message
    side = int(np.sqrt(1_048_512))  # the size the message names fits
    check_attention_fits(batch=1, height=side, width=side, record=TINY, backend="onnxruntime", available=16 * GIB)


def test_small_images_fixed_sizes_old_manifests_and_tensorrt_are_not_refused():
    huge = {"batch": 1, "height": 4000, "width": 3000, "available": GIB}
    check_attention_fits(**{**huge, "height": 32, "width": 32}, record=TINY, backend="onnxruntime")
    check_attention_fits(**huge, record=dataclasses.replace(TINY, dynamic_resolution=False), backend="onnxruntime")
    check_attention_fits(**huge, record=dataclasses.replace(TINY, num_attention_heads=None), backend="onnxruntime")
    check_attention_fits(**huge, record=TINY, backend="tensorrt")  # its plan's profile bounds the shape


def test_openvino_holds_fewer_copies_of_the_scores_than_onnxruntime():
    needed = attention_bytes(batch=1, tokens=image_tokens(TINY, 512, 512), heads=2, held=1.2)
    available = 4 * needed  # half of it fits OpenVINO's 1.2 S, not ONNX Runtime's 4 S
    check_attention_fits(batch=1, height=512, width=512, record=TINY, backend="openvino", available=available)
    with pytest.raises(ImageTooLargeError, match="on onnxruntime"):
        check_attention_fits(batch=1, height=512, width=512, record=TINY, backend="onnxruntime", available=available)


def test_images_that_fit_one_at_a_time_are_split_into_the_largest_batches_that_fit():
    one = attention_bytes(batch=1, tokens=image_tokens(TINY, 512, 512), heads=2, held=4.0)
    sizes = {"height": 512, "width": 512, "record": TINY, "backend": "onnxruntime"}
    assert fitting_batch_size(**sizes, most=8, available=int(2 * 2.5 * one)) == 2
    assert fitting_batch_size(**sizes, most=8, available=int(one)) == 1  # not even one: refused alone
    assert fitting_batch_size(**sizes, most=8, available=16 * GIB) == 8
    with pytest.raises(ImageTooLargeError, match=r"a batch of 4 images of 512x512 .* run at most 2 such images") as \
            refused:  # a batch built by hand, not split
        check_images_attention([image(512, 512)] * 4, preprocessor=KEEP_SIZE, record=TINY, backend="onnxruntime",
                               available=int(2 * 2.5 * one))
    assert "batch_size" not in str(refused.value)


def test_a_resized_panorama_is_refused_with_the_aspect_ratio_that_fits():
    panorama = [image(100, 20_000)]  # 2 Mpx, resized to 224 x 44,800: 39,201 tokens
    with pytest.raises(ImageTooLargeError, match=r"preprocessed to 224x44800.*crop the image to a less elongated"):
        check_images_attention(panorama, preprocessor=SHORTEST_EDGE, record=BASE, backend="onnxruntime",
                               available=64 * GIB)
    check_images_attention([image(3000, 4000)], preprocessor=SHORTEST_EDGE, record=BASE, backend="onnxruntime",
                           available=64 * GIB)  # a phone photo: 224 x 298


def test_served_limits_keep_one_images_attention_within_the_budget():
    tokens = max_tokens(SERVED_ATTENTION_BYTES, batch=1, heads=12, held=4.0)
    assert attention_bytes(batch=1, tokens=tokens, heads=12, held=4.0) <= SERVED_ATTENTION_BYTES < attention_bytes(
        batch=1, tokens=tokens + 1, heads=12, held=4.0)
    assert attention_max_image_pixels(BASE, KEEP_SIZE) == 855_808 == (tokens - 1) * 16**2  # the README's figure
    assert attention_max_image_pixels(BASE, SHORTEST_EDGE) is None  # the resize bounds nothing by pixels
    with pytest.raises(ImageTooLargeError, match="over this server's limit of 2,048 MiB per image"):
        check_served_attention((100, 20_000), preprocessor=SHORTEST_EDGE, record=BASE)
    check_served_attention((3000, 4000), preprocessor=SHORTEST_EDGE, record=BASE)
    check_served_attention((4000, 3000), preprocessor=KEEP_SIZE, record=BASE)  # the pixel limit bounds it


@pytest.fixture
def keep_size_classifier(beit_dynamic_classifier_artifact, tmp_path) -> Path:
    """The dynamic tiny classifier with a recipe that keeps each image's size (do_resize false)."""
    folder = Path(shutil.copytree(beit_dynamic_classifier_artifact, tmp_path / "keep-size"))
    update_manifest(folder, lambda manifest: dataclasses.replace(
        manifest, preprocessing=dataclasses.replace(manifest.preprocessing, do_resize=False)))
    return folder


def test_a_classifier_refuses_an_image_too_large_for_the_memory_before_running_it(keep_size_classifier,
                                                                                  monkeypatch):
    """384x384: 2,305 tokens, 4 x 2 heads x 2,305^2 x 4 bytes = 162 MiB, more than half of 64 MiB (were it run
    anyway, it would take well under a GiB)."""
    monkeypatch.setattr(attention, "available_memory_bytes", lambda: 64 * 2**20)
    with Classifier(keep_size_classifier, backend="onnxruntime") as classifier:
        assert len(classifier.classify(image(32, 32))) == 5
        with pytest.raises(ImageTooLargeError, match=r"384x384 .* 2,305 tokens"):
            classifier.classify([image(32, 32), image(384, 384)])


def _fits_two_of(side: int) -> int:
    """Memory available in which two side x side images' attention fits the tiny classifier, not three."""
    return int(2 * 2.5 * attention_bytes(batch=1, tokens=(side // 8) ** 2 + 1, heads=2, held=4.0))


def test_same_size_images_too_many_for_the_memory_together_run_in_smaller_batches(keep_size_classifier,
                                                                                  monkeypatch):
    images = [np.random.default_rng(seed).integers(0, 256, (64, 64, 3), dtype=np.uint8) for seed in range(5)]
    monkeypatch.setattr(attention, "available_memory_bytes", lambda: _fits_two_of(64))
    with Classifier(keep_size_classifier, backend="onnxruntime") as classifier:
        assert classifier.planned_batches(images) == [[0, 1], [2, 3], [4]]
        together = classifier.logits(images)
        alone = [classifier.logits(one) for one in images]
        with pytest.raises(ImageTooLargeError, match=r"^image at index 2 \(of 3\): a 384x384") as refused:
            classifier([images[0], images[1], image(384, 384)])
        assert refused.value.index == 2
    np.testing.assert_allclose(together, np.stack(alone), atol=1e-5, rtol=0)


def test_a_folder_run_fails_only_the_image_too_large_for_the_memory(keep_size_classifier, tmp_path, monkeypatch):
    import json

    import cv2

    from beit_runtime.bulk import BulkOptions, run_folder

    photos = tmp_path / "photos"
    photos.mkdir()
    for name, side in (("small.png", 32), ("large.png", 384)):
        cv2.imwrite(str(photos / name), np.full((side, side, 3), 90, np.uint8))
    monkeypatch.setattr(attention, "available_memory_bytes", lambda: 64 * 2**20)
    out = tmp_path / "out"
    summary = run_folder(keep_size_classifier, [photos], options=BulkOptions(output=out, progress="off"),
                         backend="onnxruntime")
    assert (summary.succeeded, summary.failed) == (1, 1)
    [failure] = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert failure["image"] == "large.png" and failure["error"] == "ImageTooLargeError", failure
    assert [json.loads(line)["image"] for line in (out / "results.jsonl").read_text().splitlines()] == ["small.png"]


def test_a_folder_run_splits_same_size_images_too_many_for_the_memory_together(keep_size_classifier, tmp_path,
                                                                               monkeypatch):
    import cv2

    from beit_runtime.bulk import BulkOptions, run_folder

    photos = tmp_path / "photos"
    photos.mkdir()
    for index in range(5):
        cv2.imwrite(str(photos / f"{index}.png"), np.full((64, 64, 3), 40 * index, np.uint8))
    monkeypatch.setattr(attention, "available_memory_bytes", lambda: _fits_two_of(64))
    summary = run_folder(keep_size_classifier, [photos], options=BulkOptions(output=tmp_path / "out", progress="off"),
                         backend="onnxruntime")
    assert (summary.succeeded, summary.failed) == (5, 0)
