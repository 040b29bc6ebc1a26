"""``beit-export`` in-process (main([...])): help, exit codes, bad --model values, a tiny export."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import huggingface_hub.constants
import pytest

from beit_export.cli import exit_code, main
from beit_export.errors import GraphCheckError, ModelLoadError, ParityError, TensorRTCompatibilityError
from beit_runtime.errors import BackendUnavailableError, ImageDecodeError, InputError, ManifestError
from tests.conftest import save_model_folder
from tests.tiny_models import tiny_model

REPO = Path(__file__).resolve().parents[3]
NO_TENSORRT = pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed")


@pytest.fixture(scope="module")
def vit_folder(tmp_path_factory):
    return save_model_folder(tiny_model("vit", "image-classification"), tmp_path_factory.mktemp("m") / "vit")


def test_help(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for expected in ("--model", "--random-init", "--dynamic-resolution", "--fp16", "--int8", "--tensorrt",
                     "build-engine", "exit codes"):
        assert expected in text
    subcommands = text[text.index("subcommands:"):text.index("--model takes")]
    assert "beit-export build-engine ARTIFACT" in subcommands and "beit-export triton ARTIFACT" in subcommands
    assert "demo-segmentation" in " ".join(text.split()) and "demo-classification" in text  # the offline checkpoints
    assert main(["build-engine", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    entries = [("--min-batch MIN_BATCH", "1"), ("--opt-batch OPT_BATCH", "8"), ("--max-batch MAX_BATCH", "32"),
               ("--workspace-gib WORKSPACE_GIB", "4.0"), ("--timing-cache TIMING_CACHE", None)]
    for (entry, default), (following, _) in itertools.pairwise(entries):
        described = text[text.rindex(entry) + len(entry):text.rindex(following)]  # each explained, with its default
        assert described.strip() and described.endswith(f"default {default}) "), (entry, described)


def test_usage_errors(capsys, tmp_path):
    assert main([]) == 2
    assert "--model" in capsys.readouterr().err
    assert main(["--model", "x", "--task", "detection"]) == 2
    assert main(["--model", "x", "--opset", "16"]) == 2
    assert "opset" in capsys.readouterr().err


def _fails_with(argv, code, text, capsys):
    assert main(argv) == code
    err = capsys.readouterr().err
    assert "beit-export: error:" in err and text in err, err


def test_bad_model_values(capsys, tmp_path, vit_folder, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # no network retries for hub-like ids
    out = ["--output", str(tmp_path / "out"), "--quiet"]
    _fails_with(["--model", str(tmp_path / "missing/folder"), *out], 2, "no such folder", capsys)
    (tmp_path / "empty").mkdir()
    _fails_with(["--model", str(tmp_path / "empty"), *out], 2, "no config.json", capsys)
    corrupt = save_model_folder(tiny_model("beit", "backbone"), tmp_path / "corrupt")
    (corrupt / "model.safetensors").write_bytes(b"not a safetensors file")
    _fails_with(["--model", str(corrupt), *out], 2, "corrupt", capsys)
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertForMaskedLM"]}))
    _fails_with(["--model", str(bert), *out], 2, "BEiT, ViT and DeiT checkpoints only", capsys)
    _fails_with(["--model", "someone/unknown-model", "--random-init", *out], 2, "facebook/dino-vitb16", capsys)
    _fails_with(["--model", str(vit_folder), "--task", "masked-image-modeling", *out], 2, "--task", capsys)
    assert not (tmp_path / "out").exists()


_WITHOUT_TORCH = """
import json, sys
from beit_export.cli import main
codes = [main(argv) for argv in ({argvs})]
heavy = sorted(name for name in ("torch", "transformers", "onnx", "onnxscript", "onnxruntime") if name in sys.modules)
print(json.dumps({{"codes": codes, "heavy": heavy}}))
"""


def _in_a_fresh_interpreter(argvs: str, *, env: dict[str, str] | None = None) -> dict:
    """The exit codes of ``main(argv)`` for each argv and the heavy modules the interpreter imported meanwhile."""
    script = _WITHOUT_TORCH.format(argvs=argvs)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120,
                            env=env, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return dict(json.loads(result.stdout.strip().splitlines()[-1]), stderr=result.stderr)


@pytest.mark.parametrize("argvs", [
    '["--help"], ["triton", "--help"], ["build-engine", "--help"]',
    '["--model", "x", "--opset", "16"], ["--model", "x", "--calibration-size", "0"], ["--model", "x", "--fp16", "yes"]',
])
def test_help_and_option_errors_answer_without_importing_torch(argvs):
    """The package promises a fast `beit-export --help`: help and option errors never import torch."""
    answer = _in_a_fresh_interpreter(argvs)
    assert answer["heavy"] == [], answer
    assert set(answer["codes"]) == ({0} if "--help" in argvs else {2}), answer["stderr"][-2000:]


def test_output_and_model_errors_answer_without_importing_torch(tmp_path):
    """A wrong --output, a missing folder and a hub id missing from an offline cache fail before torch loads."""
    (tmp_path / "file").write_text("x")
    argvs = ", ".join(repr(argv) for argv in (
        ["--model", "beit-deploy/demo-classification", "--output", str(tmp_path / "file")],
        ["--model", str(tmp_path / "no-such-folder"), "--output", str(tmp_path / "a")],
        ["--model", "microsoft/beit-base-patch16-224", "--output", str(tmp_path / "b")],
        ["--model", "someone/no-preset", "--random-init", "--output", str(tmp_path / "c")],
    ))
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"), PYTHONPATH=str(REPO))
    answer = _in_a_fresh_interpreter(argvs, env=env)
    assert answer["codes"] == [2, 2, 2, 2], answer["stderr"][-2000:]
    assert answer["heavy"] == [], answer
    for expected in ("is a file", "no such folder", "not in the local cache", "has no built-in preset"):
        assert expected in answer["stderr"], answer["stderr"][-2000:]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["file"]


def test_build_engine_usage_errors_answer_without_importing_torch(tmp_path):
    """build-engine reads graphs with onnx only; a missing artifact or bad profile fails before torch loads."""
    argvs = ", ".join(repr(argv) for argv in (
        ["build-engine", str(tmp_path / "nope")], ["build-engine", "x", "--min-batch", "4", "--max-batch", "2"],
    ))
    answer = _in_a_fresh_interpreter(argvs)
    assert answer["codes"] == [2, 2], answer["stderr"][-2000:]
    assert "does not exist" in answer["stderr"] and "--min-batch" in answer["stderr"], answer["stderr"][-2000:]
    assert set(answer["heavy"]) <= {"onnx"}, answer


def test_offline_hub_id_via_python_m(tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"), PYTHONPATH=str(REPO))
    env.pop("HF_HUB_CACHE", None)
    result = subprocess.run(
        [sys.executable, "-m", "beit_export", "--model", "microsoft/beit-base-patch16-224", "--output",
         str(tmp_path / "out")], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300, check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "--random-init" in result.stderr and "local folder" in result.stderr
    assert not (tmp_path / "out").exists()


def test_export_a_local_folder(capsys, tmp_path, vit_folder):
    output = tmp_path / "artifact"
    assert main(["--model", str(vit_folder), "--output", str(output)]) == 0
    captured = capsys.readouterr()
    assert "parity PASSED" in captured.out and str(output) in captured.out
    assert "[beit-export" in captured.err and "parity check" in captured.err  # progress lines on stderr
    manifest = json.loads((output / "manifest.json").read_text())
    assert manifest["source"]["model"] == str(vit_folder) and manifest["task"] == "image-classification"
    _fails_with(["--model", str(vit_folder), "--output", str(output), "--quiet"], 2, "--overwrite", capsys)


def test_a_folder_without_preprocessor_config_says_so(capsys, tmp_path):
    folder = save_model_folder(tiny_model("vit", "backbone", num_hidden_layers=1), tmp_path / "no-processor")
    (folder / "preprocessor_config.json").unlink()
    assert main(["--model", str(folder), "--output", str(tmp_path / "artifact")]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "preprocessor_config.json" in line]
    assert len(lines) == 1 and lines[0].startswith("[beit-export"), lines
    assert "has no preprocessor_config.json: preprocessing uses ViTImageProcessor's class defaults" in lines[0]


@NO_TENSORRT
def test_missing_tensorrt_exits_5(capsys, tmp_path, vit_folder, beit_classifier_artifact):
    _fails_with(["--model", str(vit_folder), "--output", str(tmp_path / "o"), "--tensorrt", "--quiet"], 5,
                "TensorRT", capsys)
    assert not (tmp_path / "o").exists()
    assert main(["build-engine", str(beit_classifier_artifact), "--graph", "fp32"]) == 5
    assert not any(p.suffix == ".plan" for p in beit_classifier_artifact.iterdir())


def test_build_engine_on_a_non_artifact(capsys, tmp_path):
    _fails_with(["build-engine", str(tmp_path)], 2, "manifest.json", capsys)


def test_exit_code_mapping():
    assert exit_code(ParityError("x")) == 3
    assert exit_code(GraphCheckError("x")) == 4 and exit_code(TensorRTCompatibilityError("x")) == 4
    assert exit_code(BackendUnavailableError("x")) == 5
    assert exit_code(ModelLoadError("x")) == 2 and exit_code(ManifestError("x")) == 2
    assert exit_code(KeyboardInterrupt()) == 130
    # an image the export failed on is an InputError (ImageError) but not bad usage: exit 1; bad options exit 2
    assert exit_code(ImageDecodeError("x")) == 1 and exit_code(InputError("x")) == 2


def test_sigterm_during_export_leaves_no_folder(tmp_path, vit_folder):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    process = subprocess.Popen(
        [sys.executable, "-m", "beit_export", "--model", str(vit_folder), "--output", str(tmp_path / "out")],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env, cwd=tmp_path,
    )
    for line in process.stderr:  # progress lines arrive on stderr; stop it mid-export
        if "exporting" in line:
            process.send_signal(signal.SIGTERM)
            break
    rest = process.stderr.read()
    assert process.wait(timeout=120) == 130, rest
    assert "interrupted" in rest
    assert list(tmp_path.iterdir()) == []


def test_quiet_means_an_empty_stderr_even_with_int8(tmp_path, vit_folder):
    """The libraries an export drives log their own lines (torch.onnx's torchvision notices, a torch
    FutureWarning, ONNX Runtime's quantizer advice, transformers' load report): --quiet silences them too."""
    result = subprocess.run(
        [sys.executable, "-m", "beit_export", "--model", str(vit_folder), "--output", str(tmp_path / "out"), "--int8",
         "--quiet"], capture_output=True, text=True, cwd=tmp_path, timeout=600, check=False,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert "parity PASSED" in result.stdout
