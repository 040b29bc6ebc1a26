"""What a data folder holds besides its data: evaluation report folders and a segmentation set's masks are never
read as images, by any reader, and the readers say what they left out."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from beit_runtime.datasets import (
    REPORT_FILES,
    classification_samples,
    image_files,
    is_report_folder,
    segmentation_samples,
    unlabelled_images,
)


def _png(path: Path, shape: tuple[int, ...] = (4, 4, 3)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros(shape, np.uint8)).save(path)
    return path


def _report(folder: Path, *names: str) -> Path:
    """A report folder as ``beit-run evaluate --output`` leaves it: state file, Markdown report and PNG plot."""
    folder.mkdir(parents=True)
    for name in names:
        _png(folder / name) if name.endswith(".png") else (folder / name).write_text("{}")
    return folder


@pytest.mark.parametrize("names", [REPORT_FILES, ("evaluation-state.json",), ("evaluation.md",)])
def test_a_finished_or_unfinished_report_folder_is_not_read_as_a_class_folder(tmp_path, names):
    _png(tmp_path / "cat" / "1.png")
    report = _report(tmp_path / "report-art", *names)
    assert is_report_folder(report) and not is_report_folder(tmp_path / "cat")
    reports: list[Path] = []
    samples = classification_samples(tmp_path, labels={0: "cat"}, reports=reports)
    assert [(sample.path.name, sample.target) for sample in samples] == [("1.png", 0)] and reports == [report]
    assert len(classification_samples(tmp_path, labels={0: "cat"})) == 1  # skipped without a list too
    plot = report / "accuracy-vs-speed.png"  # image_files walks it unless asked to skip reports (folder runs)
    assert (plot in image_files(tmp_path)) == (plot.name in names)


def test_a_report_folder_among_the_scenes_is_not_read(tmp_path):
    _png(tmp_path / "images" / "s.png")
    _png(tmp_path / "masks" / "s.png", (4, 4))
    report = _report(tmp_path / "images" / "report", *REPORT_FILES)
    reports: list[Path] = []
    assert [sample.path.name for sample in segmentation_samples(tmp_path, reports=reports)] == ["s.png"]
    assert reports == [report]


def test_unlabelled_images_read_a_segmentation_set_s_images_only_and_say_what_they_left_out(tmp_path):
    for name in ("a", "b"):
        _png(tmp_path / "images" / f"{name}.png")
        _png(tmp_path / "masks" / f"{name}.png", (4, 4))
    _report(tmp_path / "images" / "rep", *REPORT_FILES)
    found = unlabelled_images(tmp_path)
    assert [path.relative_to(tmp_path).as_posix() for path in found.files] == ["images/a.png", "images/b.png"]
    layout, reports = found.notes
    assert f"reading {tmp_path / 'images'} only" in layout and "masks are labels" in layout
    assert reports == f"skipped 1 evaluation report folder(s), not data: {tmp_path / 'images' / 'rep'}"
    (tmp_path / "masks").rename(tmp_path / "labels")  # no masks/ beside images/: any folder of images
    assert len(unlabelled_images(tmp_path).files) == 4


def test_a_class_folder_named_in_nfd_is_its_nfc_label(tmp_path):
    _png(tmp_path / unicodedata.normalize("NFD", "café") / "1.png")  # as macOS and its zips store the name
    _png(tmp_path / "thé" / "2.png")
    labels = {0: unicodedata.normalize("NFC", "café"), 1: unicodedata.normalize("NFD", "thé")}
    assert [sample.target for sample in classification_samples(tmp_path, labels=labels)] == [0, 1]
