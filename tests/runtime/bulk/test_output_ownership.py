"""Which folder a folder run may write into: its own OUT (same inputs and settings: it resumes), an empty or new one,
or one whose run left no result (taken over); never a folder of other files, nor one holding its inputs; options
are checked before OUT is made, and an OUT made by a run that wrote nothing is removed."""

from __future__ import annotations

import json
import shutil

import pytest

from beit_runtime.bulk import BulkOptions, run_folder
from beit_runtime.bulk.walking import collect_items
from beit_runtime.bulk.writers import OutputFolder
from beit_runtime.cli import main
from beit_runtime.errors import InputError


def _options(output):
    return BulkOptions(output=output, progress="off")


def _photos(mixed_folder, folder):
    return shutil.copytree(mixed_folder / "gray", folder)


def test_another_folders_images_are_not_taken_as_done_before(beit_classifier_artifact, mixed_folder, tmp_path):
    """dB/camera.png was "done before" because dA/camera.png was; the inputs are in run.json now."""
    first, second, out = _photos(mixed_folder, tmp_path / "dA"), _photos(mixed_folder, tmp_path / "dB"), tmp_path / "o"
    shutil.copy(mixed_folder / "astronaut.png", second / "camera.png")  # another photo under the same name
    run_folder(beit_classifier_artifact, [first], options=_options(out))
    with pytest.raises(InputError, match=f"other inputs: {first} then, {second} now\\): rerun with the same inputs"):
        run_folder(beit_classifier_artifact, [second], options=_options(out))
    again = run_folder(beit_classifier_artifact, [str(first) + "/"], options=_options(out))  # the same folder
    assert (again.skipped, again.succeeded) == (2, 0)


def test_an_output_folder_without_results_is_taken_over_and_an_older_run_json_resumes(beit_classifier_artifact,
                                                                                      mixed_folder, tmp_path):
    photos, out = _photos(mixed_folder, tmp_path / "photos"), tmp_path / "out"
    with OutputFolder(out, settings={"task": "semantic-segmentation", "top_k": 1}) as earlier:  # wrote no result
        earlier.errors.append([{"image": "gone.png", "error": "ImageDecodeError", "reason": "an old failure"}])
    summary = run_folder(beit_classifier_artifact, [photos], options=_options(out))
    assert (summary.succeeded, summary.failed) == (2, 0) and not (out / "errors.jsonl").exists()
    recorded = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert recorded["task"] == "image-classification" and recorded["inputs"] == [str(photos)]
    del recorded["inputs"]  # as a version that did not record them wrote it
    (out / "run.json").write_text(json.dumps(recorded), encoding="utf-8")
    again = run_folder(beit_classifier_artifact, [photos], options=_options(out))
    assert (again.skipped, again.succeeded) == (2, 0)
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["inputs"] == [str(photos)]


def test_a_folder_of_other_files_or_holding_an_input_is_refused(beit_classifier_artifact, mixed_folder, tmp_path,
                                                                  capsys):
    photos, mine = _photos(mixed_folder, tmp_path / "photos"), tmp_path / "mine"
    mine.mkdir()
    (mine / "camera.png.png").write_text("my notes\n", encoding="utf-8")  # the name camera.png's label map would get
    (mine / ".DS_Store").write_bytes(b"")  # hidden files do not count
    assert main([str(beit_classifier_artifact), str(photos), "--output", str(mine)]) == 2
    assert (f"--output {mine} already holds files (camera.png.png) and is not a folder run's output (no run.json): "
            "the run's outputs could replace them; pass a new or empty folder") in capsys.readouterr().err
    assert sorted(path.name for path in mine.iterdir()) == [".DS_Store", "camera.png.png"]
    assert (mine / "camera.png.png").read_text(encoding="utf-8") == "my notes\n"
    with pytest.raises(InputError, match=f"{mine / 'camera.png.png'} is inside --output {mine}: the run's outputs"):
        collect_items([photos, mine / "camera.png.png"], output=mine)  # even when mine is that run's own OUT


@pytest.mark.parametrize(("flags", "message"), [
    (["--glob", ""], "--glob must be a non-empty pattern, such as '**/*.jpg'"),
    (["--ray-actors", "0"], "--ray-actors must be a positive integer, got 0"),
    (["--reader-threads", "0"], "--reader-threads must be a positive integer, got 0"),
    (["--reader-threads", "-1"], "--reader-threads must be a positive integer, got -1"),
    ([], "no image found under"),  # found once OUT was made: OUT is removed again
])
def test_bad_options_leave_no_output_folder(beit_classifier_artifact, mixed_folder, tmp_path, capsys, flags, message):
    photos = tmp_path / "empty" if not flags else mixed_folder / "gray"
    photos.mkdir(exist_ok=True)
    out = tmp_path / "new" / "out"
    assert main([str(beit_classifier_artifact), str(photos), "--output", str(out), *flags]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_quiet_shows_no_progress(beit_classifier_artifact, mixed_folder, tmp_path, capsys):
    assert main([str(beit_classifier_artifact), str(mixed_folder / "gray"), "--output", str(tmp_path / "o"),
                 "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out.startswith("beit-run: 2 images done, 0 done before; results in")
