"""Walking a folder for images: hidden files and folders are skipped as the shell's globs skip them, unless a
pattern names them; "./" at the start of a pattern is the folder itself."""

from __future__ import annotations

from pathlib import PurePath

import pytest

from beit_runtime.datasets.discovery import glob_match, image_files

NAMES = ("top.jpg", "._top.jpg", ".hidden.png", "raw/a.png", "raw/._a.png", "raw/.cache/b.png", ".thumbs/c.jpg",
         "deep/er/d.jpg")


@pytest.fixture()
def folder(tmp_path):
    for name in NAMES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"an image, as far as walking knows")
    return tmp_path


def _found(folder, pattern=None):
    return [path.relative_to(folder).as_posix() for path in image_files(folder, pattern=pattern)]


@pytest.mark.parametrize(("pattern", "expected"), [
    (None, ["deep/er/d.jpg", "raw/a.png", "top.jpg"]),
    ("*.jpg", ["deep/er/d.jpg", "top.jpg"]),
    ("**/*.png", ["raw/a.png"]),
    ("**", ["deep/er/d.jpg", "raw/a.png", "top.jpg"]),
    ("raw/*.png", ["raw/a.png"]),
    ("./raw/*.png", ["raw/a.png"]),
    ("./*.jpg", ["top.jpg"]),
    (".*.jpg", ["._top.jpg"]),
    ("**/.*.png", [".hidden.png", "raw/._a.png"]),
    (".thumbs/*.jpg", [".thumbs/c.jpg"]),
    ("raw/.cache/*.png", ["raw/.cache/b.png"]),
    ("**/.cache/*.png", ["raw/.cache/b.png"]),
])
def test_hidden_names_are_taken_only_when_a_pattern_names_them(folder, pattern, expected):
    assert _found(folder, pattern) == expected


def test_glob_match_reads_patterns_as_bash_globstar_without_dotglob():
    assert glob_match(PurePath("raw/x.png"), "./raw/*.png") and glob_match(PurePath("raw/x.png"), "raw//*.png")
    assert not glob_match(PurePath(".git/x.png"), "**/x.png") and not glob_match(PurePath(".git/x.png"), "x.png")
    assert not glob_match(PurePath("a/.b/x.png"), "a/*/x.png") and glob_match(PurePath("a/.b/x.png"), "a/.b/*.png")
    assert not glob_match(PurePath("x.png"), ".") and not glob_match(PurePath("x.png"), "./")
