"""beit-serve's options checked before any server starts: ports out of 0-65535 (metrics 1-65535) are usage
errors naming the flag; a repository for Triton's onnxruntime backend given to a server without it (the
server of --setup) is refused naming the `beit-export triton` flag that writes a python-backend one."""

from __future__ import annotations

import pytest

from beit_export.cli import main as beit_export
from beit_runtime.serving.server import build_parser, launch_plan, main


@pytest.mark.parametrize(("flag", "value"), [
    ("--http-port", "70000"), ("--http-port", "-1"), ("--grpc-port", "65536"), ("--grpc-port", "eight"),
    ("--metrics-port", "0"), ("--metrics-port", "99999"),
])
def test_a_port_out_of_range_is_a_usage_error_naming_the_flag(tmp_path, capsys, flag, value):
    with pytest.raises(SystemExit) as exited:
        main([str(tmp_path), flag, value])
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert f"beit-serve: error: argument {flag}: expected a port number" in err and repr(value) in err


def test_ports_at_the_ends_of_the_range_are_accepted():
    args = build_parser().parse_args(["repo", "--http-port", "0", "--grpc-port", "65535", "--metrics-port", "1"])
    assert (args.http_port, args.grpc_port, args.metrics_port) == (0, 65535, 1)


def repository(artifact, folder, *extra: str):
    assert beit_export(["triton", str(artifact), "--output", str(folder), "--name", "cls", "--no-warmup",
                        *extra]) == 0
    return folder


def serve_args(repo, serve_layout):
    return [str(repo), "--tritonserver", str(serve_layout.binary), "--http-port", "0", "--grpc-port", "0",
            "--ready-timeout", "10"]


def test_onnxruntime_repository_on_a_server_without_that_backend(serve_layout, beit_classifier_artifact, tmp_path,
                                                                  capsys):
    assert not (serve_layout.backends / "onnxruntime").exists()  # --setup's Triton: python backend only
    repo = repository(beit_classifier_artifact, tmp_path / "repo")
    assert main(serve_args(repo, serve_layout)) == 2
    out, err = capsys.readouterr()
    assert "model cls_engine" in err and "onnxruntime backend" in err and "--model-backend python" in err
    assert "ready" not in out


def test_python_repository_passes_the_backend_check(serve_layout, beit_classifier_artifact, tmp_path):
    repo = repository(beit_classifier_artifact, tmp_path / "repo", "--model-backend", "python")
    plan = launch_plan(build_parser().parse_args(serve_args(repo, serve_layout)), serve_layout)
    assert plan.backends == serve_layout.backends and plan.repositories == (repo,)


@pytest.mark.parametrize("flag", ["--ready-timeout", "--grace-period", "--setup-timeout", "--check-timeout"])
@pytest.mark.parametrize("value", ["-5", "0", "nan", "inf", "soon"])
def test_durations_must_be_finite_and_above_zero(tmp_path, capsys, flag, value):
    with pytest.raises(SystemExit) as exited:
        main([str(tmp_path), flag, value])
    assert exited.value.code == 2
    assert f"argument {flag}: expected a finite number above 0, got {value!r}" in capsys.readouterr().err


def test_two_ports_with_one_number_are_refused_before_any_server_starts(tmp_path, capsys):
    assert main([str(tmp_path), "--http-port", "8000", "--grpc-port", "8000"]) == 2
    assert "--http-port and --grpc-port are both 8000; give each its own port" in capsys.readouterr().err
    assert main([str(tmp_path), "--grpc-port", "9000", "--metrics-port", "9000"]) == 2
    assert "--grpc-port and --metrics-port are both 9000" in capsys.readouterr().err


def test_a_missing_folder_or_an_artifact_is_named_for_what_it_is(beit_classifier_artifact, tmp_path, capsys):
    assert main([str(tmp_path / "missing")]) == 2
    assert "does not exist; pass the folder `beit-export triton ARTIFACT --output REPO` wrote" in (
        capsys.readouterr().err)
    assert main([str(beit_classifier_artifact)]) == 2
    err = capsys.readouterr().err
    assert "is an artifact, not a Triton model repository" in err
    assert f"beit-export triton {beit_classifier_artifact} --output REPO" in err
