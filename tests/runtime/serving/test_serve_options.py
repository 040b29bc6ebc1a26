"""beit-serve's options checked before any server starts: ports out of 0-65535 (metrics 1-65535) are usage
errors naming the flag; a repository for Triton's onnxruntime backend given to a server without it (the
server of --setup) is refused naming the `beit-export triton` flag that writes a python-backend one."""

from __future__ import annotations

import pytest

from beit_export.cli import main as beit_export
from beit_runtime.serving.drain import MIN_GRACE_PERIOD_S, MIN_REQUEST_TIME_S, check_grace_period, request_time_s
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


@pytest.mark.parametrize(("value", "left"), [("1", "0"), ("2", "0"), ("5.5", "0.5")])
def test_a_grace_period_that_leaves_requests_in_flight_under_a_second_is_refused(tmp_path, capsys, value, left):
    # measured: --grace-period 2 left the requests in flight 0.5 s, and 23 of 24 were cut
    assert main([str(tmp_path), "--grace-period", value]) == 2
    err = capsys.readouterr().err
    assert f"beit-serve: error: --grace-period {value} is too short" in err
    assert f"leaves the requests in flight {left} s; give at least 6 s" in err


def test_the_shortest_grace_period_leaves_requests_a_second_and_help_says_how_much():
    assert MIN_GRACE_PERIOD_S == 6 and request_time_s(MIN_GRACE_PERIOD_S) >= MIN_REQUEST_TIME_S
    assert request_time_s(MIN_GRACE_PERIOD_S - 0.5) < MIN_REQUEST_TIME_S
    check_grace_period(MIN_GRACE_PERIOD_S)  # accepted
    assert request_time_s(30) == 22  # 30 - 5 s exit timeout - 2 s margin - 1 s kill reserve
    help_text = " ".join(build_parser().format_help().split())
    assert "Requests in flight get it less Triton's exit timeout (2-5 s) and 3 s: 22 s of 30; at least 6" in help_text
