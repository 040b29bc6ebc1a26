"""Segmentation pictures: overlay + legend of exactly the classes present, side by side, deterministic."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from beit_runtime.errors import InputError
from beit_runtime.legend import (
    BACKGROUND,
    FRAME_COLOUR,
    GAP,
    SWATCH,
    draw_legend,
    legend_entries,
    segmentation_picture,
    write_segmentation_picture,
)
from beit_runtime.palette import make_palette, overlay

NAMES = {0: "background", 1: "cat", 2: "dog", 3: "grass", 4: "sky", 5: "road", 6: "tree"}
PALETTE = make_palette(256)


@pytest.fixture(scope="module")
def scene() -> tuple[np.ndarray, np.ndarray]:
    """A 120x300 photo-like image and a label map with classes 1 (most), 4, 0 and 6 (least); 2, 3, 5 absent."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (120, 300, 3), dtype=np.uint8)
    labels = np.full((120, 300), 1, dtype=np.int32)
    labels[:40, :150] = 4
    labels[100:, :100] = 0
    labels[:10, 290:] = 6
    return image, labels


def _swatch_boxes(strip: np.ndarray, colour) -> tuple[int, tuple[int, int, int, int] | None]:
    """(pixel count, bounding box) of the pixels that have exactly ``colour``."""
    mask = np.all(strip == np.asarray(colour, dtype=np.uint8), axis=2)
    if not mask.any():
        return 0, None
    rows, cols = np.nonzero(mask)
    return int(mask.sum()), (int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max()))


def test_entries_are_exactly_the_present_classes_largest_first(scene):
    _, labels = scene
    entries = legend_entries(labels, NAMES)
    assert [e.id for e in entries] == [1, 4, 0, 6]
    assert [e.name for e in entries] == ["cat", "sky", "background", "tree"]
    assert [e.colour for e in entries] == [tuple(PALETTE[i]) for i in (1, 4, 0, 6)]
    assert sum(e.fraction for e in entries) == pytest.approx(1.0)
    assert entries[-1].fraction == pytest.approx(100 / labels.size)
    assert legend_entries(np.array([[9]]), NAMES)[0].name == "LABEL_9"


def test_swatches_show_the_palette_colours_of_present_classes_only(scene):
    _, labels = scene
    strip = draw_legend(legend_entries(labels, NAMES), width=300)
    inner = SWATCH - 2  # inside the one-pixel frame
    for class_id in NAMES:
        count, box = _swatch_boxes(strip, PALETTE[class_id])
        if class_id in (0, 1, 4, 6):
            assert count == inner * inner, class_id
            top, bottom, left, right = box
            assert (bottom - top + 1, right - left + 1) == (inner, inner)
            assert tuple(strip[top - 1, left]) == FRAME_COLOUR
            name_area = strip[top : bottom + 1, right + 2 : right + 40]
            assert name_area.min() < 100  # dark text right of the swatch
        else:
            assert count == 0, class_id


def test_picture_layout_and_sizes(scene):
    image, labels = scene
    picture = segmentation_picture(image, labels, id2label=NAMES)
    strip = draw_legend(legend_entries(labels, NAMES), width=300)
    assert picture.shape == (120 + strip.shape[0], 300, 3) and picture.dtype == np.uint8
    np.testing.assert_array_equal(picture[:120], overlay(image, labels))
    np.testing.assert_array_equal(picture[120:], strip)
    both = segmentation_picture(image, labels, id2label=NAMES, side_by_side=True)
    assert both.shape[1] == 2 * 300 + GAP
    np.testing.assert_array_equal(both[:120, :300], image)
    np.testing.assert_array_equal(both[:120, 300 : 300 + GAP], np.full((120, GAP, 3), BACKGROUND, np.uint8))
    np.testing.assert_array_equal(both[:120, 300 + GAP :], overlay(image, labels))


def test_small_images_are_enlarged_and_the_legend_keeps_its_size(scene):
    image, labels = scene
    small_image, small_labels = image[:32, :32], labels[:32, :32]
    picture = segmentation_picture(small_image, small_labels, id2label=NAMES, min_width=256)
    assert picture.shape[1] == 256  # 32 x 8
    np.testing.assert_array_equal(picture[:256:8, :256:8], overlay(small_image, small_labels))
    np.testing.assert_array_equal(picture[7:256:8, 7:256:8], overlay(small_image, small_labels))
    legend_height = picture.shape[0] - 256
    assert legend_height == draw_legend(legend_entries(small_labels, NAMES), width=256).shape[0]
    assert legend_height >= SWATCH + 6  # readable: a full-size row, not scaled with the image


def test_many_classes_wrap_into_rows_and_long_names_are_cut():
    labels = np.arange(60, dtype=np.int32).reshape(6, 10)
    few, many = (draw_legend(legend_entries(m, {}), width=256) for m in (labels[:1, :1], labels))
    assert many.shape[0] > 5 * few.shape[0] and many.shape[1] == 256
    long_name = {0: "a very long class name " * 8}
    strip = draw_legend(legend_entries(np.zeros((2, 2), np.int32), long_name), width=200)
    assert strip.shape == (*few.shape[:1], 200, 3)  # one row, cut to fit
    assert np.all(strip[:, -4:] == BACKGROUND)


def test_output_is_deterministic_and_colours_depend_only_on_the_class(scene):
    image, labels = scene
    first = segmentation_picture(image, labels, id2label=NAMES, side_by_side=True)
    segmentation_picture(image[:50], labels[:50] + 1, id2label=NAMES)  # something else in between
    np.testing.assert_array_equal(segmentation_picture(image, labels, id2label=NAMES, side_by_side=True), first)
    shifted = np.where(labels == 4, 4, 2)  # class 4 next to other classes than before
    for picture in (first, segmentation_picture(image, shifted, id2label=NAMES)):
        count, _ = _swatch_boxes(picture[120:], PALETTE[4])
        assert count == (SWATCH - 2) ** 2


def test_written_png_reads_back_identical(scene, tmp_path):
    image, labels = scene
    path = write_segmentation_picture(image, labels, tmp_path / "out" / "scene.png", id2label=NAMES, side_by_side=True)
    written = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(written, segmentation_picture(image, labels, id2label=NAMES, side_by_side=True))


def test_bad_inputs(scene):
    image, labels = scene
    with pytest.raises(InputError, match="min_width"):
        segmentation_picture(image, labels, id2label=NAMES, min_width=0)
    with pytest.raises(InputError, match="differ in size"):
        segmentation_picture(image, labels[:10], id2label=NAMES)
    with pytest.raises(InputError, match="non-negative"):
        legend_entries(labels - 5, NAMES)
    with pytest.raises(InputError, match="label map"):
        legend_entries(np.zeros((0, 3), np.int32), NAMES)


@pytest.mark.parametrize("side", [1, 4, 10])
def test_side_by_side_pictures_of_small_images_reach_the_minimum_width(side):
    image, labels = np.full((side, side, 3), 100, np.uint8), np.full((side, side), 5, np.int32)
    names = {i: f"class_{i}" for i in range(10)}
    picture = segmentation_picture(image, labels, id2label=names, side_by_side=True, min_width=256)
    factor = (picture.shape[1] - GAP) // (2 * side)
    assert picture.shape[1] >= 256 and picture.shape[1] == 2 * side * factor + GAP
    legend = draw_legend(legend_entries(labels, names), width=picture.shape[1])
    np.testing.assert_array_equal(picture[side * factor:], legend)
    plain = draw_legend(legend_entries(labels, names), width=256)
    assert legend.shape[0] == plain.shape[0]  # the entry fits on one row, as in a plain overlay's legend


def test_a_thin_strip_is_not_enlarged_past_max_side_but_gets_a_margin_for_the_legend():
    """A 1x5000 image was enlarged 256 times (256x1280000 pixels, gigabytes); now no side passes MAX_ENLARGED_SIDE."""
    image, labels = np.full((5000, 1, 3), 100, np.uint8), np.full((5000, 1), 5, np.int32)
    picture = segmentation_picture(image, labels, id2label=NAMES, min_width=256)
    legend = draw_legend(legend_entries(labels, NAMES), width=256)
    assert picture.shape == (5000 + legend.shape[0], 256, 3)
    np.testing.assert_array_equal(picture[:5000, :1], overlay(image, labels))
    assert np.all(picture[:5000, 1:] == BACKGROUND)
    short = segmentation_picture(image[:10], labels[:10], id2label=NAMES, min_width=256)  # 256 x 10 is under it
    assert short.shape == (2560 + legend.shape[0], 256, 3)
    tall = segmentation_picture(image[:100], labels[:100], id2label=NAMES, min_width=256)  # 40 x 100 is the most
    assert tall.shape == (4000 + legend.shape[0], 256, 3) and np.all(tall[:4000, 40:] == BACKGROUND)
