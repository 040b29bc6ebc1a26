"""``beit-export`` (main([...])) on hostile input: outputs that would destroy the input or cannot be written,
broken config.json / preprocessor_config.json, weights of another config, bad option and build-engine values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from beit_export.cli import main
from tests.conftest import save_model_folder
from tests.tiny_models import tiny_model


@pytest.fixture(scope="module")
def vit_folder(tmp_path_factory) -> Path:
    return save_model_folder(tiny_model("vit", "image-classification"), tmp_path_factory.mktemp("m") / "vit")


@pytest.fixture
def own_vit_folder(tmp_path) -> Path:
    return save_model_folder(tiny_model("vit", "image-classification"), tmp_path / "parent" / "vit")


def _contents(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def _fails_with(argv, code, texts, capsys) -> str:
    capsys.readouterr()  # what the fixtures printed
    assert main(argv) == code
    err = capsys.readouterr().err
    assert err.startswith("beit-export") and ": error: " in err and "Traceback" not in err, err
    for text in texts:
        assert text in err, err
    return err


@pytest.mark.parametrize("where", ["model", "parent"])
def test_overwrite_never_deletes_the_model_folder(capsys, own_vit_folder, where):
    before = _contents(own_vit_folder)
    output = own_vit_folder if where == "model" else own_vit_folder.parent
    argv = ["--model", str(own_vit_folder), "--output", str(output), "--overwrite", "--quiet"]
    _fails_with(argv, 2, ["--output", "--model", "--overwrite", str(own_vit_folder)], capsys)
    assert _contents(own_vit_folder) == before


def test_overwrite_never_deletes_the_calibration_folder(capsys, tmp_path, vit_folder):
    output = tmp_path / "out"
    (output / "calibration").mkdir(parents=True)
    (output / "calibration" / "a.png").write_bytes(b"x")
    argv = ["--model", str(vit_folder), "--output", str(output), "--overwrite", "--int8", "--calibration-data",
            str(output / "calibration"), "--quiet"]
    _fails_with(argv, 2, ["--output", "--calibration-data"], capsys)
    assert (output / "calibration" / "a.png").read_bytes() == b"x"


def test_output_under_a_file(capsys, tmp_path, vit_folder):
    blocker = tmp_path / "afile"
    blocker.write_text("keep")
    _fails_with(["--model", str(vit_folder), "--output", str(blocker / "sub"), "--quiet"], 2,
                ["--output", str(blocker), "is a file"], capsys)
    assert blocker.read_text() == "keep"


def test_output_that_cannot_be_created(capsys, vit_folder):
    _fails_with(["--model", str(vit_folder), "--output", "/proc/beit-export-test", "--quiet"], 2,
                ["--output", "/proc", "writ"], capsys)
    assert not Path("/proc/beit-export-test").exists()


def _with_config(folder: Path, config) -> Path:
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize(("change", "texts"), [
    (lambda config: [1, 2], ["config.json", "JSON list", "JSON object"]),
    (lambda config: None, ["config.json", "JSON null"]),
    (lambda config: dict(config, hidden_size="64"), ["config.json", "hidden_size", "expected int"]),
    (lambda config: dict(config, patch_size=0), ["config.json", "patch_size is 0", "positive integer"]),
    (lambda config: dict(config, image_size=15), ["config.json", "image_size is 15", "multiple of patch_size 8"]),
])
def test_bad_config_json(capsys, own_vit_folder, change, texts):
    config = json.loads((own_vit_folder / "config.json").read_text())
    _with_config(own_vit_folder, change(config))
    out = own_vit_folder.parent / "out"
    _fails_with(["--model", str(own_vit_folder), "--output", str(out), "--quiet"], 2, texts, capsys)
    assert not out.exists()


@pytest.mark.parametrize("size", [0, 15])
def test_bad_image_size_with_dynamic_resolution_and_random_init(capsys, own_vit_folder, size):
    config = json.loads((own_vit_folder / "config.json").read_text())
    _with_config(own_vit_folder, dict(config, image_size=size))
    argv = ["--model", str(own_vit_folder), "--output", str(own_vit_folder.parent / "out"), "--random-init",
            "--dynamic-resolution", "--quiet"]
    err = _fails_with(argv, 2, ["config.json", f"image_size is {size}", "Fix config.json"], capsys)
    assert "export with --dynamic-resolution" not in err


def test_weights_of_another_config(capsys, own_vit_folder):
    config = json.loads((own_vit_folder / "config.json").read_text())
    _with_config(own_vit_folder, dict(config, hidden_size=64))
    err = _fails_with(["--model", str(own_vit_folder), "--output", str(own_vit_folder.parent / "o"), "--quiet"], 2,
                      ["do not belong with its config.json", "in the weights vs", "from config.json"], capsys)
    assert "corrupt" not in err


@pytest.mark.parametrize("content", ["[]", "null", "3"])
def test_preprocessor_config_that_is_not_an_object(capsys, own_vit_folder, content):
    (own_vit_folder / "preprocessor_config.json").write_text(content)
    _fails_with(["--model", str(own_vit_folder), "--output", str(own_vit_folder.parent / "o"), "--quiet"], 2,
                ["preprocessor_config.json", "expected a JSON object"], capsys)


def test_option_errors_name_the_flags(capsys, tmp_path, vit_folder):
    out = ["--output", str(tmp_path / "o"), "--quiet"]
    _fails_with(["--model", str(vit_folder), "--int8", "--calibration-size", "0", *out], 2,
                ["--calibration-size must be"], capsys)
    _fails_with(["--model", str(vit_folder), "--parity-size", "-3", *out], 2, ["--parity-size must be"], capsys)
    (tmp_path / "file.png").write_bytes(b"x")
    _fails_with(["--model", str(vit_folder), "--int8", "--calibration-data", str(tmp_path / "file.png"), *out], 2,
                ["--calibration-data", "is a file, not a folder"], capsys)
    _fails_with(["--model", str(vit_folder), "--parity-data", str(tmp_path / "gone"), *out], 2,
                [f"--parity-data {tmp_path / 'gone'} does not exist; pass a folder of images"], capsys)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("argv", "flag"), [
    (["--min-batch", "0"], "--min-batch"),
    (["--opt-batch", "x"], "--opt-batch"),
    (["--workspace-gib", "-1"], "--workspace-gib"),
    (["--device-id", "-1"], "--device-id"),
    (["--min-size", "0x16"], "--min-size"),
    (["--min-batch", "8", "--opt-batch", "4"], "--min-batch <= --opt-batch <= --max-batch"),
])
def test_build_engine_bad_values_exit_2_naming_the_flag(capsys, tmp_path, argv, flag):
    assert main(["build-engine", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and flag in err and "_batch" not in err, err


def test_output_errors_exit_codes():
    from beit_export.cli import exit_code
    from beit_export.errors import CheckpointConfigError, OutputPathError, OutputWriteError

    assert exit_code(OutputPathError("x")) == 2 and exit_code(CheckpointConfigError("x")) == 2
    assert exit_code(OutputWriteError("x")) == 1  # a full disk is the machine's fault, not a usage error
