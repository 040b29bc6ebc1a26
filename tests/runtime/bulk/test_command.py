"""beit-run with a folder: a folder run (results in --output, exit 0 only when every image succeeded); the
folder-only and file-only flags are refused where they do not apply."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from beit_runtime.cli import main

from .conftest import BROKEN, GOOD


def test_a_folder_with_broken_images_exits_3_and_lists_them(beit_classifier_artifact, mixed_folder, tmp_path, capsys):
    out = tmp_path / "out"
    assert main([str(beit_classifier_artifact), str(mixed_folder), "--output", str(out), "--top-k", "2"]) == 3
    captured = capsys.readouterr()
    assert f"beit-run: {len(GOOD)} images done, 0 done before, 2 failed (see {out / 'errors.jsonl'})" in captured.out
    assert f"beit-run: {len(GOOD) + 2}/{len(GOOD) + 2} images (2 failed), " in captured.err  # lines: not a terminal
    lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["image"] for line in lines] == list(GOOD)
    assert all(len(json.loads(line)["predictions"]) == 2 for line in lines)
    assert [json.loads(line)["image"] for line in (out / "errors.jsonl").read_text().splitlines()] == list(BROKEN)


def test_a_folder_of_good_images_exits_0_and_a_rerun_does_nothing(beit_segmentation_artifact, mixed_folder, tmp_path,
                                                                   capsys):
    argv = [str(beit_segmentation_artifact), str(mixed_folder / "gray"), "--output", str(tmp_path), "--overlays"]
    assert main(argv) == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "camera.png.overlay.png", "camera.png.png", "camera16.png.overlay.png", "camera16.png.png", "results.jsonl",
        "run.json"]
    assert main(argv) == 0
    assert "beit-run: 0 images done, 2 done before; results in" in capsys.readouterr().out


@pytest.mark.parametrize(("extra", "message"), [
    (["--json"], "--json applies to image files named alone"),
    (["--side-by-side"], "--side-by-side applies to image files named alone"),
    ([], "a folder run writes its results to a folder: add --output OUT"),
])
def test_file_run_flags_in_a_folder_run_are_usage_errors(beit_classifier_artifact, mixed_folder, tmp_path, capsys,
                                                         extra, message):
    output = ["--output", str(tmp_path)] if extra else []
    assert main([str(beit_classifier_artifact), str(mixed_folder), *output, *extra]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "results.jsonl").exists()


def test_folder_run_flags_with_files_alone_are_usage_errors(beit_classifier_artifact, mixed_folder, capsys):
    assert main([str(beit_classifier_artifact), str(mixed_folder / "rocket.jpg"), "--glob", "*.jpg"]) == 2
    assert "--glob applies to folder runs: pass a folder (or --ray) and --output" in capsys.readouterr().err


def test_verbose_says_what_a_folder_run_runs_before_the_first_image(beit_classifier_artifact, mixed_folder,
                                                                    tmp_path, capsys):
    argv = [str(beit_classifier_artifact), str(mixed_folder / "gray"), "--output", str(tmp_path), "--verbose"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert err.startswith("running onnxruntime fp32 (asked for)\n")
    assert main([*argv, "--precision", "auto"]) == 0  # no plan in the cache: fp32, so it resumes
    err = capsys.readouterr().err
    assert "running onnxruntime fp32 (auto: fp32: no plan for this artifact on this machine" in err
    assert main([*argv, "--precision", "auto", "--plan", str(tmp_path / "none.json")]) == 2  # a plan named must exist
    assert f"plan {tmp_path / 'none.json'} does not exist: make it with `beit-run tune" in capsys.readouterr().err



def test_an_artifact_that_cannot_be_used_as_given_is_a_usage_error(beit_classifier_artifact, mixed_folder, tmp_path,
                                                                   capsys):
    """Exit 2 (bad usage), as a file run says it, and no OUT left behind; these were exit 1 (the run failed).
    The changed graph is found when the model loads (verify_files, the default), after OUT was made."""
    checkpoint, corrupt, changed = tmp_path / "checkpoint", tmp_path / "corrupt", tmp_path / "changed"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text("{}")
    corrupt.mkdir()
    (corrupt / "manifest.json").write_text("{not json")
    shutil.copytree(beit_classifier_artifact, changed)
    with (changed / "model.onnx").open("ab") as graph:
        graph.write(b"\0")
    cases = (([str(checkpoint)], "has no manifest.json: it is not a beit-deploy artifact"),
             ([str(corrupt)], "is not readable JSON"),
             ([str(beit_classifier_artifact), "--precision", "int8"], "has no 'int8' graph (it has: fp32)"),
             ([str(changed)], f"{changed / 'model.onnx'} does not match the hash in manifest.json"))
    out = tmp_path / "out"
    for artifact, says in cases:
        assert main([*artifact, str(mixed_folder / "gray"), "--output", str(out), "--quiet"]) == 2
        captured = capsys.readouterr()
        assert says in captured.err and captured.out == ""
        assert not out.exists()

_RAY_RUN = """
import sys
import ray
from beit_runtime.cli import main
code = main(sys.argv[1:])
print(code, ray.is_initialized())
"""


def test_ray_address_where_no_cluster_listens_is_one_line_and_writes_nothing(beit_classifier_artifact,
                                                                              mixed_folder, tmp_path):
    """ray.init waits minutes on an address where nothing listens; the run says so within seconds, leaves
    no OUT behind, and starts no Ray of its own. In a process of its own: this one may be connected to
    another test's cluster, which the run would use."""
    pytest.importorskip("ray")
    out = tmp_path / "out"
    argv = [str(beit_classifier_artifact), str(mixed_folder), "--output", str(out), "--ray=127.0.0.1:1"]
    done = subprocess.run([sys.executable, "-c", _RAY_RUN, *argv], capture_output=True, text=True, timeout=120,
                          check=False)
    err = done.stderr
    assert done.stdout.split() == ["1", "False"], err[-2000:]  # exit 1, and no Ray of its own started
    assert err.startswith("beit-run: error: no Ray cluster answers at --ray 127.0.0.1:1 (Connection refused): ")
    assert "ray start --head" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()  # made for the run, removed again when it wrote nothing


def test_one_image_reads_as_one_and_nothing_to_do_shows_no_count(beit_classifier_artifact, mixed_folder, tmp_path,
                                                                  capsys):
    """The summary said "1 images done"; a full resume showed "beit-run: 0/0 images", and a run whose model
    failed to load "0/2 images" before its error."""
    argv = [str(beit_classifier_artifact), str(mixed_folder / "gray"), "--output", str(tmp_path / "out"),
            "--glob", "camera.png"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "beit-run: 1 image done, 0 done before; results in" in captured.out and "1/1 images" in captured.err
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "beit-run: 0 images done, 1 done before; results in" in captured.out and captured.err == ""
    failing = [str(beit_classifier_artifact), str(mixed_folder / "gray"), "--output", str(tmp_path / "other"),
               "--precision", "fp16"]
    assert main(failing) == 2
    err = capsys.readouterr().err
    assert "beit-run: error: " in err and "images" not in err.replace("image files", "")
