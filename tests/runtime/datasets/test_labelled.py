"""Finding images and reading labelled folders: layouts, deterministic samples, typed errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from beit_runtime.datasets import (
    classification_samples,
    deterministic_sample,
    file_list_digest,
    image_files,
    read_mask,
    segmentation_samples,
)
from beit_runtime.errors import DatasetError


def _png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def test_image_files_are_recursive_sorted_and_skip_non_images(tmp_path):
    _png(tmp_path / "b" / "deep" / "x.png", np.zeros((4, 4, 3), np.uint8))
    _png(tmp_path / "a.PNG", np.zeros((4, 4, 3), np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    names = [p.relative_to(tmp_path).as_posix() for p in image_files(tmp_path)]
    assert names == ["a.PNG", "b/deep/x.png"]
    assert [p.name for p in image_files(tmp_path, pattern="b/**/*.png")] == ["x.png"]
    with pytest.raises(DatasetError, match="missing does not exist"):
        image_files(tmp_path / "missing")


def test_deterministic_sample_is_stable_and_keeps_most_of_itself_when_files_are_added(tmp_path):
    paths = [tmp_path / f"{i:03d}.png" for i in range(100)]
    first = deterministic_sample(paths, root=tmp_path, size=20)
    assert first == deterministic_sample(list(reversed(paths))[::-1], root=tmp_path, size=20)
    assert len(first) == 20 and first == sorted(first)
    grown = deterministic_sample(paths + [tmp_path / f"{i:03d}.png" for i in range(100, 110)], root=tmp_path, size=20)
    assert len(set(first) & set(grown)) >= 15
    assert deterministic_sample(paths[:5], root=tmp_path, size=20) == paths[:5]


def test_file_list_digest_changes_with_names_and_sizes(tmp_path):
    a = _png(tmp_path / "a.png", np.zeros((4, 4), np.uint8))
    b = _png(tmp_path / "b.png", np.zeros((4, 4), np.uint8))
    before = file_list_digest([a, b], root=tmp_path)
    assert before == file_list_digest([a, b], root=tmp_path)
    assert before != file_list_digest([a], root=tmp_path)
    _png(b, np.zeros((40, 40), np.uint8))
    assert before != file_list_digest([a, b], root=tmp_path)


def test_classification_folders_map_to_label_ids_and_unknown_folders_are_named(tmp_path):
    _png(tmp_path / "cat" / "1.png", np.zeros((4, 4, 3), np.uint8))
    _png(tmp_path / "dog" / "sub" / "2.png", np.zeros((4, 4, 3), np.uint8))
    samples = classification_samples(tmp_path, labels={0: "dog", 1: "cat"})
    assert [(s.path.name, s.target) for s in samples] == [("1.png", 1), ("2.png", 0)]
    _png(tmp_path / "horse" / "3.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(DatasetError, match=r"'horse'.*'dog', 'cat'"):
        classification_samples(tmp_path, labels={0: "dog", 1: "cat"})


def test_classification_of_an_empty_folder_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="no image files"):
        classification_samples(tmp_path, labels={0: "a"})


def test_segmentation_pairs_masks_and_reduces_labels_like_beit_image_processor(tmp_path):
    _png(tmp_path / "images" / "s.jpg", np.zeros((3, 4, 3), np.uint8))
    mask = np.array([[0, 1, 2, 255], [3, 0, 1, 2], [255, 4, 4, 0]], np.uint8)
    _png(tmp_path / "masks" / "s.png", mask)
    (sample,) = segmentation_samples(tmp_path)
    assert np.array_equal(read_mask(sample, image_size=(3, 4)), mask.astype(np.int64))
    reduced = read_mask(sample, image_size=(3, 4), reduce_labels=True)
    expected = mask.astype(np.int64)  # BeitImageProcessor.reduce_label: 0 -> 255, k -> k - 1, 255 stays 255
    expected[expected == 0] = 255
    expected = expected - 1
    expected[expected == 254] = 255
    assert np.array_equal(reduced, expected)


def test_segmentation_mask_of_another_size_or_missing_names_the_pair(tmp_path):
    _png(tmp_path / "images" / "s.png", np.zeros((3, 4, 3), np.uint8))
    with pytest.raises(DatasetError, match="has no mask"):
        segmentation_samples(_with_empty_masks_folder(tmp_path))
    _png(tmp_path / "masks" / "s.png", np.zeros((5, 4), np.uint8))
    (sample,) = segmentation_samples(tmp_path)
    with pytest.raises(DatasetError, match=r"s\.png is 4x5 but its image .*s\.png is 4x3"):
        read_mask(sample, image_size=(3, 4))


def _with_empty_masks_folder(root: Path) -> Path:
    (root / "masks").mkdir(exist_ok=True)
    return root


def _tagged(path: Path, array: np.ndarray, orientation: int) -> Path:
    """``array`` saved with an EXIF Orientation tag (6: turn 90 degrees clockwise to view)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(array).save(path, exif=exif)
    return path


def test_mask_ids_outside_the_model_name_the_mask_and_the_values(tmp_path):
    _png(tmp_path / "images" / "s.png", np.zeros((3, 4, 3), np.uint8))
    _png(tmp_path / "masks" / "s.png", np.array([[0, 1, 255, 12], [3, 0, 1, 2], [255, 4, 12, 9]], np.uint8))
    (sample,) = segmentation_samples(tmp_path)
    assert read_mask(sample, image_size=(3, 4), num_classes=13)[0, 3] == 12
    with pytest.raises(DatasetError, match=r"masks/s\.png holds class id\(s\) 9, 12, outside the model's 5 "
                                           r"classes.*pass --reduce-labels"):
        read_mask(sample, image_size=(3, 4), num_classes=5)
    with pytest.raises(DatasetError, match=r"class id\(s\) 12, outside the model's 10.*--reduce-labels on") as error:
        read_mask(sample, image_size=(3, 4), num_classes=10, reduce_labels=True)
    assert "pass --reduce-labels" not in str(error.value)


def test_a_mask_is_turned_by_its_own_exif_tag_as_its_image_is(tmp_path):
    stored = np.arange(12, dtype=np.uint8).reshape(3, 4)
    _tagged(tmp_path / "images" / "s.jpg", np.zeros((3, 4, 3), np.uint8), orientation=6)
    _tagged(tmp_path / "masks" / "s.png", stored, orientation=6)
    (sample,) = segmentation_samples(tmp_path)
    upright = read_mask(sample, image_size=(4, 3))  # the image is evaluated upright: 3 wide, 4 tall
    assert np.array_equal(upright, np.rot90(stored, k=-1))
    assert np.array_equal(read_mask(sample, image_size=(3, 4), exif_orientation=False), stored)


def test_a_mask_that_does_not_fit_an_exif_turned_image_says_why(tmp_path):
    _tagged(tmp_path / "images" / "s.jpg", np.zeros((3, 4, 3), np.uint8), orientation=6)
    _png(tmp_path / "masks" / "s.png", np.zeros((3, 4), np.uint8))  # saved as stored, without the tag
    (sample,) = segmentation_samples(tmp_path)
    with pytest.raises(DatasetError, match=r"is 4x3 but its image .* is 3x4.*EXIF orientation tag 6.*save the mask "
                                           r"upright too, or give the mask the same EXIF orientation tag"):
        read_mask(sample, image_size=(4, 3))
    _png(tmp_path / "images" / "s.jpg", np.zeros((3, 4, 3), np.uint8))  # no tag: no EXIF advice
    with pytest.raises(DatasetError, match=r"a mask must have its image's size$"):
        read_mask(sample, image_size=(4, 3))


def test_an_unreadable_mask_is_a_dataset_error_naming_it(tmp_path):
    _png(tmp_path / "images" / "s.png", np.zeros((3, 4, 3), np.uint8))
    (tmp_path / "masks").mkdir()
    (tmp_path / "masks" / "s.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (sample,) = segmentation_samples(tmp_path)
    with pytest.raises(DatasetError, match=r"mask .*s\.png cannot be read"):
        read_mask(sample, image_size=(3, 4))


def test_a_data_folder_that_is_missing_or_a_file_says_which(tmp_path):
    with pytest.raises(DatasetError, match=r"gone does not exist; pass a folder of images"):
        image_files(tmp_path / "gone")
    (tmp_path / "a.png").write_bytes(b"x")
    with pytest.raises(DatasetError, match=r"a\.png is a file, not a folder; pass a folder of images"):
        image_files(tmp_path / "a.png")


@pytest.mark.parametrize(("pattern", "expected"), [
    ("**/*.png", ["b/deep/x.png", "b/y.png", "top.png"]),  # ** is zero folders too: the top level counts
    ("*.png", ["b/deep/x.png", "b/y.png", "top.png"]),  # no "/": the name, at any depth
    ("b/*.png", ["b/y.png"]),  # anchored at the folder, * within one name
    ("b/**/*.png", ["b/deep/x.png", "b/y.png"]),
    ("deep/*.png", []),  # not a suffix match: deep/ is not at the top
    ("**/deep/*.png", ["b/deep/x.png"]),
    ("*/?.png", ["b/y.png"]),
])
def test_a_glob_reads_as_the_shells_globstar(tmp_path, pattern, expected):
    for name in ("top.png", "b/y.png", "b/deep/x.png"):
        _png(tmp_path / name, np.zeros((4, 4, 3), np.uint8))
    assert [p.relative_to(tmp_path).as_posix() for p in image_files(tmp_path, pattern=pattern)] == expected
