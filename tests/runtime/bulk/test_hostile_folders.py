"""Folder runs on awkward inputs: the output folder inside the input folder, output paths that cannot be
folders, folders with no image, and named pipes among the images."""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from beit_runtime.bulk.walking import collect_items
from beit_runtime.cli import main
from beit_runtime.datasets.discovery import image_files
from beit_runtime.errors import InputError


@contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    """Fails the test (instead of hanging it) when the block blocks, as a read of a pipe would."""
    def expired(*_: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _gray_copy(mixed_folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(mixed_folder / "gray", tmp_path / "photos"))


def _results(out: Path) -> list[str]:
    return [json.loads(line)["image"] for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]


def test_an_output_folder_inside_the_input_folder_is_not_walked(beit_segmentation_artifact, mixed_folder, tmp_path,
                                                                 capsys):
    photos = _gray_copy(mixed_folder, tmp_path)
    out = photos / "out"
    argv = [str(beit_segmentation_artifact), str(photos), "--output", str(out), "--overlays"]
    assert main(argv) == 0
    first = sorted(os.listdir(out))
    assert main(argv) == 0
    assert "beit-run: 0 images done, 2 done before; results in" in capsys.readouterr().out
    assert sorted(os.listdir(out)) == first and _results(out) == ["camera.png", "camera16.png"]
    assert [item.relative for item in collect_items([photos], output=out)] == ["camera.png", "camera16.png"]
    assert main([*argv[:3], str(tmp_path / "v2")]) == 0  # out, inside photos, is not read as photos by the next run
    assert f"beit-run: not reading 1 folder(s) of beit-run outputs (an earlier folder run's --output, or an " \
           f"evaluation report), not photos: {out}\n" in capsys.readouterr().err
    assert _results(tmp_path / "v2") == ["camera.png", "camera16.png"]


def test_the_input_folder_itself_as_output_is_a_usage_error(beit_classifier_artifact, mixed_folder, tmp_path, capsys):
    photos = _gray_copy(mixed_folder, tmp_path)
    assert main([str(beit_classifier_artifact), str(photos), "--output", str(photos)]) == 2
    assert f"--output {photos} is the input folder" in capsys.readouterr().err
    assert sorted(os.listdir(photos)) == ["camera.png", "camera16.png"]


@pytest.mark.parametrize("kind", ["file", "proc"])
def test_output_paths_that_cannot_be_folders_are_usage_errors(beit_classifier_artifact, mixed_folder, tmp_path,
                                                              capsys, kind):
    output = tmp_path / "afile" if kind == "file" else Path("/proc/beit-x")
    if kind == "file":
        output.write_text("keep me\n", encoding="utf-8")
    assert main([str(beit_classifier_artifact), str(mixed_folder / "gray"), "--output", str(output)]) == 2
    captured = capsys.readouterr()
    assert f"--output {output}" in captured.err and captured.out == ""
    assert kind == "proc" or output.read_text(encoding="utf-8") == "keep me\n"


@pytest.mark.parametrize("glob", [None, "**/*.webp"])
def test_no_image_found_is_a_usage_error_naming_the_folder_and_extensions(beit_classifier_artifact, mixed_folder,
                                                                         tmp_path, capsys, glob):
    folder = mixed_folder if glob else tmp_path / "empty"
    folder.mkdir(exist_ok=True)
    pattern = ["--glob", glob] if glob else []
    assert main([str(beit_classifier_artifact), str(folder), "--output", str(tmp_path / "out"), *pattern]) == 2
    err = capsys.readouterr().err
    assert f"no image found under {folder}" in err and ".jpg, .jpeg, .png" in err
    assert (f"matching --glob '{glob}'" in err) == bool(glob)
    assert not (tmp_path / "out" / "results.jsonl").exists()


def test_named_pipes_are_skipped_when_walking_and_refused_when_named(beit_classifier_artifact, mixed_folder, tmp_path,
                                                                     capsys):
    photos = _gray_copy(mixed_folder, tmp_path)
    os.mkfifo(photos / "x.png")
    with _deadline(120):
        assert [path.name for path in image_files(photos)] == ["camera.png", "camera16.png"]
        assert main([str(beit_classifier_artifact), str(photos), "--output", str(tmp_path / "out")]) == 0
        assert _results(tmp_path / "out") == ["camera.png", "camera16.png"]
        with pytest.raises(InputError, match=r"x\.png is not a regular file"):
            collect_items([photos / "camera.png", photos / "x.png"])
        assert main([str(beit_classifier_artifact), str(photos / "x.png")]) == 2  # a file run: refused before reading
    assert f"{photos / 'x.png'} is not a regular file" in capsys.readouterr().err


def test_walking_skips_the_named_folders(mixed_folder):
    found = image_files(mixed_folder, skip_folders=[mixed_folder / "animals", mixed_folder / "not-there"])
    assert not any("animals" in path.as_posix() for path in found) and len(found) == 8


def test_a_link_to_a_file_that_is_gone_is_a_failure_naming_its_target(beit_classifier_artifact, mixed_folder,
                                                                      tmp_path, capsys):
    photos = _gray_copy(mixed_folder, tmp_path)
    (photos / "moved.png").symlink_to(tmp_path / "elsewhere" / "moved.png")  # the photo it named was moved
    out = tmp_path / "out"
    assert main([str(beit_classifier_artifact), str(photos), "--output", str(out)]) == 3
    assert "2 images done, 0 done before, 1 failed" in capsys.readouterr().out
    (error,) = [json.loads(line) for line in (out / "errors.jsonl").read_text(encoding="utf-8").splitlines()]
    assert error["image"] == "moved.png"
    assert error["reason"] == (f"image file {photos / 'moved.png'} is a symbolic link to "
                               f"{tmp_path / 'elsewhere' / 'moved.png'}, which does not exist; fix or remove it")
    assert [path.name for path in image_files(photos)] == ["camera.png", "camera16.png"]  # data sets skip it


def test_long_file_names_are_done_or_listed_and_the_rest_goes_on(beit_segmentation_artifact, mixed_folder, tmp_path,
                                                                 capsys):
    photos = _gray_copy(mixed_folder, tmp_path)
    legal = "l" * 226 + ".png"  # 230 bytes: its label map (234) and overlay (242) names are legal too
    too_long = "t" * 246 + ".png"  # 250 bytes: its label map is 254 bytes, its overlay 262: more than 255
    for name in (legal, too_long):
        shutil.copy(photos / "camera.png", photos / name)
    out = tmp_path / "out"
    argv = [str(beit_segmentation_artifact), str(photos), "--output", str(out), "--overlays"]
    for _ in range(2):  # and again: the rerun retries it and lists it again, the others done before
        assert main(argv) == 3
        assert _results(out) == ["camera.png", "camera16.png", legal]
        (error,) = [json.loads(line) for line in (out / "errors.jsonl").read_text(encoding="utf-8").splitlines()]
        assert error["image"] == too_long and error["error"] == "OutputWriteError"
        assert error["reason"] == (f"its output file name '{too_long}.overlay.png' is 262 bytes, more than the 255 the "
                                   "file system allows: rename the image to at most 243 bytes and rerun")
    assert (out / f"{legal}.overlay.png").is_file()
    assert not [path for path in out.rglob("*") if path.name.startswith(".")]
    assert "1 failed (see" in capsys.readouterr().out


def test_hidden_files_are_not_images_unless_named(beit_classifier_artifact, mixed_folder, tmp_path, capsys):
    photos = _gray_copy(mixed_folder, tmp_path)
    (photos / "._camera.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble resource fork")  # what macOS copies leave
    (photos / ".thumbnails").mkdir()
    shutil.copy(photos / "camera.png", photos / ".thumbnails" / "camera.png")
    for pattern in ([], ["--glob", "*.png"], ["--glob", "**/*.png"]):
        out = tmp_path / f"out{len(pattern)}{pattern[-1:] == ['*.png']}"
        assert main([str(beit_classifier_artifact), str(photos), "--output", str(out), *pattern]) == 0
        assert _results(out) == ["camera.png", "camera16.png"]
    assert [item.relative for item in collect_items([photos], pattern=".thumbnails/*.png")] == [
        ".thumbnails/camera.png"]  # a pattern that names a hidden folder takes it
    assert [item.relative for item in collect_items([photos / "._camera.png"])] == ["._camera.png"]  # named: taken
