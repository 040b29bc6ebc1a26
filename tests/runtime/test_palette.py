"""Palette, colourised label maps and overlays (what beit-run writes for segmentation artifacts)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from beit_runtime.errors import ImageError, InputError
from beit_runtime.palette import colorize, make_palette, overlay, write_overlay


def test_palette_is_deterministic_and_distinct():
    palette = make_palette(300)
    assert palette.shape == (300, 3) and palette.dtype == np.uint8
    np.testing.assert_array_equal(palette, make_palette(300))
    np.testing.assert_array_equal(palette[:4], [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]])
    assert len({tuple(colour) for colour in palette}) == 300
    with pytest.raises(InputError):
        make_palette(0)


def test_colorize_maps_ids_to_palette_colours():
    labels = np.array([[0, 1], [2, 149]], dtype=np.int32)
    colours = colorize(labels)
    palette = make_palette(256)
    assert colours.shape == (2, 2, 3)
    np.testing.assert_array_equal(colours[1, 1], palette[149])
    custom = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], dtype=np.uint8)
    np.testing.assert_array_equal(colorize(labels[:1], palette=custom)[0, 1], [4, 5, 6])
    with pytest.raises(InputError, match="no colour"):
        colorize(labels, palette=custom)
    with pytest.raises(InputError, match="integer"):
        colorize(labels.astype(np.float32))


def test_overlay_blends_and_checks_sizes():
    image = np.full((4, 5, 3), 200, dtype=np.uint8)
    labels = np.ones((4, 5), dtype=np.int64)
    blended = overlay(image, labels, alpha=0.5)
    np.testing.assert_array_equal(blended[0, 0], [164, 100, 100])  # (200 + 128) / 2, 200 / 2, 200 / 2
    np.testing.assert_array_equal(overlay(image, labels, alpha=0.0), image)
    with pytest.raises(InputError, match="differ in size"):
        overlay(image, labels[:3])
    with pytest.raises(ImageError):
        overlay(image.astype(np.float32), labels)
    with pytest.raises(InputError, match="alpha"):
        overlay(image, labels, alpha=1.5)


def test_write_overlay_writes_a_png_in_rgb_order(tmp_path):
    image = np.zeros((6, 7, 3), dtype=np.uint8)
    labels = np.full((6, 7), 1, dtype=np.int32)  # palette[1] is pure red
    path = write_overlay(image, labels, tmp_path / "out" / "overlay.png", alpha=1.0)
    written = cv2.imread(str(path), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(cv2.cvtColor(written, cv2.COLOR_BGR2RGB)[0, 0], [128, 0, 0])
    with pytest.raises(InputError, match="could not write"):
        write_overlay(image, labels, tmp_path / "overlay.unknown-extension")
