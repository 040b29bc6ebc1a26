"""File-system failures of ``staged_artifact``/``check_output``: one typed error naming the final --output path
and its cause, nothing half-written left behind, and no --overwrite that deletes an input folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from beit_export.artifact import OutputExistsError, check_output, staged_artifact
from beit_export.errors import OutputPathError, OutputWriteError


def test_disk_full_while_writing_is_a_write_error_naming_the_output(tmp_path):
    output = tmp_path / "artifact"
    with pytest.raises(OutputWriteError) as caught, staged_artifact(output) as folder:
        (folder / "model.onnx").write_bytes(b"half")
        with open("/dev/full", "wb") as full:  # a real ENOSPC, without filling a disk
            full.write(b"x")
    message = str(caught.value)
    assert str(output) in message and "No space left on device" in message and ".partial-" not in message
    assert list(tmp_path.iterdir()) == []  # no artifact, no staging folder, no lock file


def test_disk_full_is_the_runtime_s_output_write_error_too(tmp_path):
    """One name, one meaning: ``except beit_runtime.errors.OutputWriteError`` (or OSError) catches an export's
    full disk, with the errno of the failed write and the artifact's path as its filename."""
    import errno

    from beit_runtime import errors as runtime_errors

    output = tmp_path / "artifact"
    with pytest.raises(runtime_errors.OutputWriteError) as caught, staged_artifact(output), \
            open("/dev/full", "wb") as full:
        full.write(b"x")
    assert isinstance(caught.value, OSError) and caught.value.errno == errno.ENOSPC
    assert caught.value.filename == str(output) and not str(caught.value).startswith("[Errno")


def test_disk_full_keeps_the_previous_artifact(tmp_path):
    output = tmp_path / "artifact"
    output.mkdir()
    old = '{"format": "beit-deploy-artifact", "old": true}'
    (output / "manifest.json").write_text(old)
    with pytest.raises(OutputWriteError), staged_artifact(output, overwrite=True), open("/dev/full", "wb") as full:
        full.write(b"x")
    assert [p.name for p in tmp_path.iterdir()] == ["artifact"]
    assert (output / "manifest.json").read_text() == old


def test_output_whose_folder_is_a_file(tmp_path):
    (tmp_path / "afile").write_text("keep")
    with pytest.raises(OutputPathError, match=r"--output's folder .*afile is a file"):
        check_output(tmp_path / "afile" / "sub", overwrite=False)
    assert (tmp_path / "afile").read_text() == "keep"


def test_output_that_cannot_be_created(tmp_path):
    # refused up front (checked_folder probes /proc) or when the staging folder is made: either names the path
    expected = r"--output( /proc/beit-test-artifact cannot be written|'s folder /proc is not writable) \("
    with pytest.raises(OutputPathError, match=expected), staged_artifact(Path("/proc/beit-test-artifact")):
        pytest.fail("the block must not run")


@pytest.mark.parametrize("inside", [".", "sub/deeper"])
def test_overwrite_refuses_an_output_holding_an_input(tmp_path, inside):
    model = tmp_path / "out" / inside / "model"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    output = model if inside == "." else tmp_path / "out"
    with pytest.raises(OutputPathError, match=r"--model folder .* --overwrite would delete it"):
        check_output(output, overwrite=True, inputs={"--model": str(model)})
    assert (model / "config.json").read_text() == "{}"
    # not an input, or no --overwrite: the usual rules
    assert check_output(tmp_path / "elsewhere", overwrite=True, inputs={"--model": str(model)}).name == "elsewhere"
    with pytest.raises(OutputExistsError, match="not an earlier beit-export output"):  # it holds the model's files
        check_output(output, overwrite=True, inputs={"--model": None, "--parity-data": None})


@pytest.mark.parametrize("flag", ["--calibration-data", "--parity-data", "--model"])
def test_overwrite_refuses_an_output_inside_an_input(tmp_path, flag):
    images = tmp_path / "photos"
    (images / "batch2").mkdir(parents=True)
    (images / "cat.jpg").write_bytes(b"cat")
    (images / "batch2" / "astronaut.jpg").write_bytes(b"astronaut")
    output = images / "batch2"
    with pytest.raises(OutputPathError) as caught:
        check_output(output, overwrite=True, inputs={flag: str(images)})
    message = str(caught.value)
    assert f"is inside the {flag} folder {images}: --overwrite would delete" in message, message
    assert f"Choose a --output outside {flag} (nothing was deleted)" in message
    assert (images / "batch2" / "astronaut.jpg").read_bytes() == b"astronaut"
    # a new folder inside an input is refused too, so the first run is refused as a second one would be; without
    # --overwrite the usual rules
    with pytest.raises(OutputPathError, match=f"is inside the {flag} folder"):
        check_output(images / "new", overwrite=True, inputs={flag: str(images)})
    assert check_output(images / "new", overwrite=False, inputs={flag: str(images)}) == images / "new"
    with pytest.raises(OutputExistsError, match="--overwrite"):
        check_output(output, overwrite=False, inputs={flag: str(images)})
