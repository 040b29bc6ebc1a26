"""Folder runs on artifacts whose tensors follow the image (``--dynamic-resolution`` with an own-size or
aspect-preserving recipe): one engine call per tensor size, an image smaller than the graph can run listed in
errors.jsonl while the rest goes on, and masked image modelling with one mask per image's patch grid; the
results are the task classes' own calls on each image."""

from __future__ import annotations

import json

import numpy as np
import pytest
import skimage.data
from PIL import Image

from beit_runtime import Classifier, MaskedImageModeler
from beit_runtime.cli import main


def _lines(path):
    return {record["image"]: record for record in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


def test_a_too_small_image_is_listed_and_the_other_sizes_run(own_size_classifier_artifact, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    cat = skimage.data.chelsea()
    sizes = {"wide.png": cat[:40, :72], "tall.png": cat[:56, :24], "wide2.png": cat[40:80, :72],
             "strip.png": cat[:40, :5]}
    for name, pixels in sizes.items():
        Image.fromarray(np.ascontiguousarray(pixels)).save(photos / name)
    out = tmp_path / "out"
    assert main([str(own_size_classifier_artifact), str(photos), "--output", str(out), "--top-k", "3"]) == 3
    errors = _lines(out / "errors.jsonl")
    assert list(errors) == ["strip.png"] and errors["strip.png"]["error"] == "ImageFormatError"
    assert "smaller than the 8x8 pixels" in errors["strip.png"]["reason"]
    results = _lines(out / "results.jsonl")
    assert sorted(results) == ["tall.png", "wide.png", "wide2.png"]
    with Classifier(own_size_classifier_artifact) as classifier:
        for name in results:
            expected = classifier(str(photos / name), top_k=3)
            assert [p["label"] for p in results[name]["predictions"]] == [p.label for p in expected]
            assert [p["score"] for p in results[name]["predictions"]] == pytest.approx(
                [p.score for p in expected], abs=1e-6)
    assert "1 failed" in capsys.readouterr().out


def test_masked_image_modeling_masks_each_images_patch_grid(aspect_mim_artifact, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    cat = skimage.data.chelsea()
    images = {"wide.png": cat[::3, ::3][:90, :120], "square.png": cat[:64, :64]}
    for name, pixels in images.items():
        Image.fromarray(np.ascontiguousarray(pixels)).save(photos / name)
    out = tmp_path / "out"
    assert main([str(aspect_mim_artifact), str(photos), "--output", str(out)]) == 0
    results = _lines(out / "results.jsonl")
    with MaskedImageModeler(aspect_mim_artifact) as modeler:
        for name in images:
            path = str(photos / name)
            expected = modeler.predict(path, modeler.default_mask(path))
            assert results[name]["token_ids"] == expected.tolist()
    assert len(results["wide.png"]["token_ids"]) == 20 and len(results["square.png"]["token_ids"]) == 16
