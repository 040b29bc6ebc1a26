"""The demo's procedural scenes: deterministic, masks that match the pixels, every class drawn."""

from __future__ import annotations

import numpy as np
import pytest

from beit_export.demo.metrics import confusion_matrix, mean_iou
from beit_export.demo.scenes import BACKGROUND_SHADING, CLASS_NAMES, MIN_COLOUR_STEP, generate_scene, generate_scenes


def test_same_seed_same_scenes_other_seed_other_scenes():
    first = generate_scenes(4, seed=7)
    again = generate_scenes(4, seed=7)
    other = generate_scenes(4, seed=8)
    for (image, mask), (image_again, mask_again) in zip(first, again, strict=True):
        assert np.array_equal(image, image_again) and np.array_equal(mask, mask_again)
    assert not any(np.array_equal(a[0], b[0]) for a, b in zip(first, other, strict=True) if a[0].shape == b[0].shape)


def test_scene_i_does_not_depend_on_how_many_are_drawn():
    few, many = generate_scenes(2, seed=3), generate_scenes(5, seed=3)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(few, many, strict=False))  # the first two of five


def test_shapes_dtypes_and_sizes():
    for image, mask in generate_scenes(6, seed=1, min_size=40, max_size=90):
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert mask.shape == image.shape[:2] and np.issubdtype(mask.dtype, np.integer)
        assert 40 <= mask.shape[0] <= 90 and 40 <= mask.shape[1] <= 90
        assert mask.min() >= 0 and mask.max() < len(CLASS_NAMES)
    (image, mask), = generate_scenes(1, seed=0, size=(50, 70))
    assert image.shape == (50, 70, 3) and mask.shape == (50, 70)


def test_every_mask_boundary_is_an_image_edge_without_noise():
    """Adjacent pixels with different labels differ in colour: the mask is drawn from the same regions."""
    for index in range(6):
        image, mask = generate_scene(np.random.default_rng(index), height=96, width=120, noise=0.0)
        pixels = image.astype(np.int32)
        for axis in (0, 1):
            label_change = np.diff(mask, axis=axis) != 0
            colour_step = np.abs(np.diff(pixels, axis=axis)).max(axis=2)
            assert label_change.any()
            # colours are >= MIN_COLOUR_STEP apart; the background strays <= BACKGROUND_SHADING from its own
            assert colour_step[label_change].min() >= MIN_COLOUR_STEP - BACKGROUND_SHADING - 1


def test_plain_objects_are_flat_and_striped_objects_have_two_colours():
    for index in range(6):
        image, mask = generate_scene(np.random.default_rng(100 + index), height=128, width=128, noise=0.0)
        for label, name in enumerate(CLASS_NAMES):
            region = image[mask == label].reshape(-1, 3)
            if len(region) < 50 or label == 0:
                continue
            distinct = len(np.unique(region, axis=0))
            objects_at_most = 5
            if name.startswith("plain"):
                assert distinct <= objects_at_most
            else:
                assert 2 <= distinct <= 2 * objects_at_most


def test_every_class_appears_with_a_fair_share():
    scenes = generate_scenes(40, seed=0, size=96)
    counts = np.bincount(np.concatenate([mask.ravel() for _, mask in scenes]), minlength=len(CLASS_NAMES))
    share = counts / counts.sum()
    assert len(counts) == len(CLASS_NAMES)
    assert share[0] > 0.3 and (share[1:] > 0.03).all(), dict(zip(CLASS_NAMES, share.round(3), strict=True))


def test_noise_is_added_and_clipped():
    rng_args = {"height": 64, "width": 64}
    clean, mask = generate_scene(np.random.default_rng(5), noise=0.0, **rng_args)
    noisy, mask_noisy = generate_scene(np.random.default_rng(5), noise=10.0, **rng_args)
    assert np.array_equal(mask, mask_noisy)
    difference = noisy.astype(float) - clean.astype(float)
    assert 5 < difference.std() < 15


def test_rejects_tiny_sizes():
    with pytest.raises(ValueError, match="height, width >= 8"):
        generate_scene(np.random.default_rng(0), height=4, width=64)
    with pytest.raises(ValueError, match="min_size <= max_size"):
        generate_scenes(1, min_size=100, max_size=50)


def test_mean_iou_counts_over_the_whole_set():
    target = np.array([[0, 0, 1, 1]])
    assert mean_iou([target], [target], num_classes=3)[0] == 1.0
    prediction = np.array([[0, 1, 1, 1]])
    miou, per_class = mean_iou([prediction], [target], num_classes=3)
    assert per_class[0] == pytest.approx(1 / 2) and per_class[1] == pytest.approx(2 / 3) and np.isnan(per_class[2])
    assert miou == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert confusion_matrix(prediction, target, num_classes=3).sum() == 4
    with pytest.raises(ValueError, match="same shape"):
        confusion_matrix(prediction, target[:, :2], num_classes=3)
