"""Which images a folder run takes and the names their outputs carry."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from beit_runtime.bulk.options import BulkOptions
from beit_runtime.bulk.walking import chunked, collect_items
from beit_runtime.errors import InputError

from .conftest import BROKEN, GOOD


def test_folders_are_walked_recursively_in_relative_name_order_without_non_images(mixed_folder):
    items = collect_items([mixed_folder])
    assert [item.relative for item in items] == sorted([*GOOD, *BROKEN])
    assert all(item.path == mixed_folder / item.relative for item in items)


def test_a_glob_picks_by_relative_path(mixed_folder):
    assert [item.relative for item in collect_items([mixed_folder], pattern="**/crops/*.png")] == [
        "animals/crops/chelsea-eye.png", "animals/crops/tiny.png"]


def test_missing_inputs_and_bad_options_say_what_to_pass(tmp_path):
    with pytest.raises(InputError, match="does not exist; pass image files or folders"):
        collect_items([tmp_path / "nowhere"])
    with pytest.raises(InputError, match="shard_size must be a positive integer"):
        BulkOptions(output=tmp_path, shard_size=0)
    with pytest.raises(InputError, match="progress must be one of"):
        BulkOptions(output=tmp_path, progress="loud")


def test_chunks_keep_order_and_the_last_is_shorter(mixed_folder):
    items = collect_items([mixed_folder])
    assert [len(chunk) for chunk in chunked(items, 4)] == [4, 4, 3]


def test_symlinked_folders_are_walked_and_a_link_back_ends_the_loop(mixed_folder, tmp_path):
    """Folders linked into the input folder (cameras mounted elsewhere) were skipped without a word."""
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "cam1").symlink_to(mixed_folder / "gray")
    (photos / "cam1-again").symlink_to(photos / "cam1")  # the same folder under two names: taken under both
    (photos / "real").mkdir()
    (photos / "real" / "up").symlink_to(photos)  # a loop
    (photos / "real" / "rocket.jpg").symlink_to(mixed_folder / "rocket.jpg")
    assert [item.relative for item in collect_items([photos])] == [
        "cam1-again/camera.png", "cam1-again/camera16.png", "cam1/camera.png", "cam1/camera16.png", "real/rocket.jpg"]


def test_earlier_folder_runs_outputs_and_reports_inside_a_folder_are_left_out(mixed_folder, tmp_path):
    """An earlier run's OUT kept in the photo folder (labels-v1/ with its label maps) was read as photos."""
    photos = tmp_path / "photos"
    shutil.copytree(mixed_folder / "gray", photos)
    for folder, files in {"labels-v1": ("run.json", "errors.jsonl"), "report": ("evaluation.md",),
                          "notes": ("run.json",)}.items():  # run.json alone is no folder run's output
        (photos / folder).mkdir()
        shutil.copy(photos / "camera.png", photos / folder / "camera.png.png")
        for name in files:
            (photos / folder / name).write_text("{}\n", encoding="utf-8")
    left_out: list[Path] = []
    items = collect_items([photos], left_out=left_out)
    assert [item.relative for item in items] == ["camera.png", "camera16.png", "notes/camera.png.png"]
    assert sorted(left_out) == [photos / "labels-v1", photos / "report"]
