"""--overwrite replaces only an earlier beit-export output or an empty folder, an empty --output is refused, and a
folder that appears at --output while an export runs is never replaced (without --overwrite) or replaced only
when it is an earlier output (with it)."""

from __future__ import annotations

import json

import pytest

from beit_export.artifact import OutputExistsError, check_output, staged_artifact
from beit_export.cli import main
from beit_export.errors import OutputPathError


def _tree(folder):
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def _user_folder(folder):
    (folder / "src").mkdir(parents=True)
    (folder / "src" / "train.py").write_text("print('mine')\n")
    (folder / "README.md").write_text("# my project\n")
    return folder


def _earlier_artifact(folder, *, name="manifest.json", format_name="beit-deploy-artifact"):
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps({"format": format_name}))
    (folder / "model.onnx").write_bytes(b"old graph")
    return folder


def test_an_empty_output_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(_user_folder(tmp_path))
    with pytest.raises(OutputPathError, match="empty"):
        check_output("", overwrite=True)
    assert main(["--model", "google/anything", "--output", "", "--overwrite", "--quiet"]) == 2
    assert "--output: expected a folder path, got an empty one" in capsys.readouterr().err
    for flag in ("--output", "--kubernetes"):  # beit-export triton's folders too
        argv = ["triton", str(tmp_path), "--output", "repo", "--overwrite", flag, ""]
        assert main(argv) == 2 and f"{flag}: expected a folder path, got an empty one" in capsys.readouterr().err
    assert _tree(tmp_path) == ["README.md", "src", "src/train.py"]


def test_overwrite_refuses_a_folder_that_is_not_an_earlier_output(tmp_path):
    folder = _user_folder(tmp_path / "notes")
    with pytest.raises(OutputExistsError) as caught:
        check_output(folder, overwrite=True)
    message = str(caught.value)
    assert f"--output {folder} holds README.md, src/, and is not an earlier beit-export output" in message
    assert "Choose a new folder for --output, or delete" in message and "nothing was deleted" in message
    with pytest.raises(OutputExistsError), staged_artifact(folder, overwrite=True):
        pytest.fail("the block must not run")
    web_app = _earlier_artifact(tmp_path / "web", format_name="a web app manifest")
    with pytest.raises(OutputExistsError, match="not an earlier beit-export output"):
        check_output(web_app, overwrite=True)
    assert _tree(folder) == ["README.md", "src", "src/train.py"] and (web_app / "model.onnx").exists()


@pytest.mark.parametrize("record", ["manifest.json", "repository.json", "models/repository.json", None])
def test_overwrite_replaces_an_earlier_output_or_an_empty_folder(tmp_path, record):
    output = tmp_path / "out"
    output.mkdir()
    if record is not None:
        formats = {"manifest.json": "beit-deploy-artifact"}
        _earlier_artifact(output, name=record, format_name=formats.get(record, "beit-deploy-triton-repository"))
    with staged_artifact(output, overwrite=True) as staging:
        (staging / "new.txt").write_text("new")
    assert _tree(output) == ["new.txt"] and _tree(tmp_path) == ["out", "out/new.txt"]


def test_a_folder_that_appears_during_the_export_is_kept(tmp_path):
    output = tmp_path / "out"
    with pytest.raises(OutputExistsError) as caught, staged_artifact(output) as staging:
        (staging / "manifest.json").write_text("{}")
        output.mkdir()
        (output / "results.txt").write_text("someone else's results")
    assert "appeared while this export ran" in str(caught.value) and "export's files were removed" in str(caught.value)
    assert _tree(tmp_path) == ["out", "out/results.txt"]  # no staging folder, no lock file


def test_the_second_of_two_exports_to_one_folder_is_refused(tmp_path):
    output = tmp_path / "same"
    with pytest.raises(OutputExistsError, match="appeared"), staged_artifact(output) as second:
        (second / "from.txt").write_text("second")
        with staged_artifact(output) as first:
            (first / "from.txt").write_text("first")
    assert (output / "from.txt").read_text() == "first" and _tree(tmp_path) == ["same", "same/from.txt"]


def test_an_empty_folder_that_appears_is_filled(tmp_path):
    output = tmp_path / "out"
    with staged_artifact(output) as staging:
        (staging / "a.txt").write_text("a")
        output.mkdir()
    assert _tree(tmp_path) == ["out", "out/a.txt"]


def test_overwrite_checks_a_folder_that_appears_again_at_the_move(tmp_path):
    output = tmp_path / "out"
    with pytest.raises(OutputExistsError, match="not an earlier"), staged_artifact(output, overwrite=True) as staging:
        (staging / "a.txt").write_text("a")
        _user_folder(output)
    assert _tree(output) == ["README.md", "src", "src/train.py"] and _tree(tmp_path)[0] == "out"
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]
    with staged_artifact(tmp_path / "art", overwrite=True) as staging:
        (staging / "a.txt").write_text("a")
        _earlier_artifact(tmp_path / "art")
    assert _tree(tmp_path / "art") == ["a.txt"]
