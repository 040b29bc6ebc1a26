"""What keeps a server from starting is one line naming the fix. Refused before tritonserver starts (exit 2):
a model name in two repositories (or one repository twice), a port another socket listens on, a --host
that is not an IP address. A model that fails to load on the real server ends beit-serve (exit 1) with
the server's own "failed to ..." / "error: ..." lines in its error line, whether the server's log goes
to a pipe, a file behind stderr or --log-file. --host ::1 serves over IPv6: HTTP, gRPC, metrics, checks."""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from beit_export.cli import main as beit_export
from beit_runtime.remote import RemoteClassifier
from beit_runtime.serving.addresses import free_port
from beit_runtime.serving.check import check_image
from beit_runtime.serving.server import build_parser, main
from beit_runtime.serving.triton_log import error_message
from tests.runtime.serving.triton_server import endpoints, readiness, serve_command, start_beit_serve

FREE_PORTS = ["--http-port", "0", "--grpc-port", "0"]


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def test_a_model_name_in_two_repositories_is_refused_before_start(serve_layout, repositories,
                                                                   beit_classifier_artifact, tmp_path, capsys):
    other = tmp_path / "other"
    assert beit_export(["triton", str(beit_classifier_artifact), "--output", str(other), "--name", "cls",
                        "--model-backend", "python", "--no-warmup"]) == 0
    capsys.readouterr()
    start = time.monotonic()
    assert main([str(repositories["cls"]), str(other), *FREE_PORTS]) == 2
    out, err = capsys.readouterr()
    assert out == "" and time.monotonic() - start < 5.0
    assert last_line(err) == (
        f"beit-serve: error: model 'cls' is in both {repositories['cls']} and {other}, and Triton needs each model "
        "name once across its repositories: write one again under another name (`beit-export triton ARTIFACT "
        "--output REPO --name OTHER`), or serve them with two beit-serve on other ports")
    assert main([str(repositories["cls"]), str(repositories["cls"]), *FREE_PORTS]) == 2
    assert last_line(capsys.readouterr().err) == f"beit-serve: error: repository {repositories['cls']} is given " \
                                                 "twice; give it once"


@pytest.mark.parametrize("flag", ["--http-port", "--grpc-port", "--metrics-port"])
def test_a_busy_port_is_refused_before_start(serve_layout, repositories, capsys, flag):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        ports = {"--http-port": "0", "--grpc-port": "0", flag: str(port)}
        start = time.monotonic()
        assert main([str(repositories["cls"]), *[part for item in ports.items() for part in item]]) == 2
        assert time.monotonic() - start < 5.0
    out, err = capsys.readouterr()
    choice = "1-65535: it cannot be 0" if flag == "--metrics-port" else "0: any free one"
    assert out == "" and last_line(err) == (
        f"beit-serve: error: {flag} {port}: 127.0.0.1:{port} is already in use (another server listens there); "
        f"give {flag} another port ({choice}) or stop that server")
    hinted = "1" if flag == "--metrics-port" else "0"  # what the hint offers is accepted (--metrics-port 0 is not)
    assert getattr(build_parser().parse_args(["repo", flag, hinted]), flag[2:].replace("-", "_")) == int(hinted)


@pytest.mark.parametrize("host", ["localhost", "my-host.example"])
def test_a_host_name_is_refused(serve_layout, repositories, capsys, host):
    # tritonserver's HTTP server would listen on 255.255.255.255 (measured) and never get ready
    assert main([str(repositories["cls"]), "--host", host, *FREE_PORTS]) == 2
    assert f"--host '{host}' is not an IP address" in last_line(capsys.readouterr().err)


@pytest.fixture
def broken_repository(repositories, tmp_path):
    """The cls repository whose preprocessing model raises when the python backend imports it."""
    repository = tmp_path / "broken"
    shutil.copytree(repositories["cls"], repository)
    model = repository / "cls_preprocess" / "1" / "model.py"
    model.write_text('raise RuntimeError("broken on purpose")\n' + model.read_text())
    return repository


@pytest.mark.parametrize("log", ["pipe", "stderr file", "--log-file"])
def test_a_model_that_fails_to_load_is_named_in_the_error(serve_layout, broken_repository, tmp_path, log):
    command = serve_command(str(broken_repository), *FREE_PORTS, "--ready-timeout", "120")
    log_file = tmp_path / "server.log"
    if log == "--log-file":
        command += ["--log-file", str(log_file)]
    with open(tmp_path / "stderr.txt", "w+") as stderr_file:
        stderr = stderr_file if log == "stderr file" else subprocess.PIPE
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=180, check=False)
        stderr_file.seek(0)
        err = done.stderr if log != "stderr file" else stderr_file.read()
    assert done.returncode == 1 and "ready" not in done.stdout
    where = f"in {log_file}" if log == "--log-file" else "above"
    assert re.fullmatch(r"beit-serve: error: tritonserver exited with -?\d+ before it was ready: failed to load "
                        r"'cls_preprocess' version 1: Internal: RuntimeError: broken on purpose(; .*)? "
                        rf"\(its log: {re.escape(where)}\)", last_line(err)), last_line(err)
    assert "Traceback" not in err
    server_log = log_file.read_text() if log == "--log-file" else err
    assert "At:" in server_log  # the whole log is still there, python traceback included


def test_error_lines_of_tritonservers_log():
    lines = [  # as Triton 2.51 writes them (a name clash, a busy port, a CPU-only machine, the last line)
        'E1206 22:13:19.009541 2274 server.cc:241] "CudaDriverHelper has not been initialized."',
        "E1206 22:13:19.009811 2274 model_repository_manager.cc:1323] \"failed to poll model 'cls': not unique "
        'across all model repositories"',
        "E1206 22:13:19.009811 2274 model_repository_manager.cc:1323] \"failed to poll model 'cls': not unique "
        'across all model repositories"',
        "I1206 22:13:56.034771 3954 model_lifecycle.cc:777] \"failed to load 'cls_engine'\"",
        'E1206 22:16:04.785783 8068 main.cc:257] "failed to start HTTP service: Unavailable - Socket '
        "'127.0.0.1:18000' already in use \"",
        "error: creating server: Internal - failed to load all models",
    ]
    assert error_message(lines) == (
        "failed to poll model 'cls': not unique across all model repositories; failed to start HTTP service: "
        "Unavailable - Socket '127.0.0.1:18000' already in use; error: creating server: Internal - failed to load "
        "all models")
    assert error_message(lines[:1]) == ""


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback here")
def test_ipv6_host_serves_http_grpc_and_metrics(serve_layout, repositories, tmp_path):
    metrics = free_port("::1")
    process, line = start_beit_serve([repositories["cls"]], log=tmp_path / "server.log",
                                     extra=["--host", "::1", *FREE_PORTS, "--metrics-port", str(metrics)])
    try:
        http, grpc = endpoints(line)
        assert re.fullmatch(r"\[::1\]:\d+", http) and re.fullmatch(r"\[::1\]:\d+", grpc), line
        assert readiness(http) == 200
        for args in ((), ("--check-live",)):
            done = subprocess.run(serve_command("--check", f"http://{http}", *args), capture_output=True,
                                  text=True, timeout=60, check=False)
            assert done.returncode == 0 and "check ok" in done.stdout, done.stdout + done.stderr
        with urllib.request.urlopen(f"http://[::1]:{metrics}/metrics", timeout=5) as reply:
            assert 'nv_inference_request_success{model="cls"' in reply.read().decode()
        with RemoteClassifier(f"grpc://{grpc}", "cls") as client:  # the gRPC endpoint answers at the printed address
            assert len(client.classify(check_image(), top_k=2)) == 2
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
