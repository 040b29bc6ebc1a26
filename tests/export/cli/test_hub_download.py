"""The headline command through the real download path: a local server in the hub's URL layout.

A threaded HTTP server on 127.0.0.1 serves tiny checkpoints as ``/{repo}/resolve/{revision}/{file}``
with the headers huggingface_hub reads (X-Repo-Commit, ETag, Content-Length; X-Error-Code on 404s).
``HF_ENDPOINT`` points the real CLI (a subprocess) at it; downloads go to a temporary HF cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import save_model_folder
from tests.tiny_models import tiny_model

REPO = Path(__file__).resolve().parents[3]
COMMIT = "0123456789abcdef0123456789abcdef01234567"
DROPPED = "someone/dropped-connection"


class _Hub(BaseHTTPRequestHandler):
    repos: dict[str, Path] = {}
    requests: list[str] = []

    def log_message(self, *args) -> None:  # keep the test output clean
        del args

    def _lookup(self):
        parts = self.path.split("?")[0].strip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve":
            return self._error(404, "RepoNotFound")
        repo, revision, name = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
        self.requests.append(f"{self.command} {repo} {revision} {name}")
        if repo == DROPPED:
            self.close_connection = True  # answer nothing: the client sees the connection drop
            return None
        if repo not in self.repos:
            return self._error(404, "RepoNotFound")
        if revision not in ("main", COMMIT):
            return self._error(404, "RevisionNotFound")
        path = self.repos[repo] / name
        if not path.is_file():
            return self._error(404, "EntryNotFound", commit=True)
        return path.read_bytes()

    def _error(self, status: int, code: str, *, commit: bool = False):
        self.send_response(status)
        self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", code)
        if commit:
            self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("Content-Length", "0")
        self.end_headers()
        return None

    def _answer(self, *, body: bool) -> None:
        data = self._lookup()
        if data is None:
            return
        self.send_response(200)
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def do_HEAD(self) -> None:  # noqa: N802 (http.server's names)
        self._answer(body=False)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(body=True)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    _Hub.repos = {
        "tiny/vit-safetensors": save_model_folder(tiny_model("vit", "image-classification"), root / "safe"),
        "tiny/beit-bin": save_model_folder(tiny_model("beit", "backbone"), root / "bin", safe=False),
    }
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _cli(args, *, endpoint, cache, offline=False):
    env = dict(os.environ, PYTHONPATH=str(REPO), HF_ENDPOINT=endpoint, HF_HOME=str(cache),
               HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_ETAG_TIMEOUT="5", HF_HUB_DOWNLOAD_TIMEOUT="5",
               HF_HUB_DISABLE_XET="1", HF_HUB_OFFLINE="1" if offline else "0")
    for key in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "TRANSFORMERS_CACHE"):
        env.pop(key, None)
    return subprocess.run([sys.executable, "-m", "beit_export", *args, "--quiet"], capture_output=True, text=True,
                          env=env, timeout=300)


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def test_download_export_then_offline_from_the_cache(hub, tmp_path):
    cache = tmp_path / "hf"
    first = _cli(["--model", "tiny/vit-safetensors", "--fp16", "--output", str(tmp_path / "a")],
                 endpoint=hub, cache=cache)
    assert first.returncode == 0, first.stderr
    manifest = _manifest(tmp_path / "a")
    assert manifest["source"] == {**manifest["source"], "model": "tiny/vit-safetensors", "revision": COMMIT,
                                  "random_init": False}
    assert set(manifest["graphs"]) == {"fp32", "fp16"} and manifest["parity"]["fp16"]["passed"]
    assert any(name.endswith("model.safetensors") for name in _Hub.requests)
    seen = len(_Hub.requests)
    again = _cli(["--model", "tiny/vit-safetensors", "--fp16", "--output", str(tmp_path / "b")],
                 endpoint=hub, cache=cache, offline=True)
    assert again.returncode == 0, again.stderr
    assert len(_Hub.requests) == seen, "offline must not touch the server"
    assert _manifest(tmp_path / "b")["source"]["revision"] == COMMIT
    assert _manifest(tmp_path / "b")["files"]["model.onnx"] == manifest["files"]["model.onnx"]


def test_a_repository_with_only_pytorch_model_bin(hub, tmp_path):
    result = _cli(["--model", "tiny/beit-bin", "--output", str(tmp_path / "bin")], endpoint=hub, cache=tmp_path / "hf")
    assert result.returncode == 0, result.stderr
    assert _manifest(tmp_path / "bin")["task"] == "backbone"
    offline = _cli(["--model", "tiny/beit-bin", "--output", str(tmp_path / "bin2")], endpoint=hub,
                   cache=tmp_path / "hf", offline=True)
    assert offline.returncode == 0, offline.stderr


@pytest.mark.parametrize(("model", "extra", "expected"), [
    ("tiny/no-such-repo", [], "not a hub repository"),
    ("tiny/vit-safetensors", ["--revision", "v9"], "no revision 'v9'"),
    (DROPPED, [], "failed"),
])
def test_hub_failures_are_clear_errors(hub, tmp_path, model, extra, expected):
    result = _cli(["--model", model, *extra, "--output", str(tmp_path / "out")], endpoint=hub, cache=tmp_path / "hf")
    assert result.returncode == 2, result.stderr
    assert "beit-export: error:" in result.stderr and expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_missing_config_is_a_clear_error(hub, tmp_path):
    _Hub.repos["tiny/empty"] = tmp_path / "empty"
    (tmp_path / "empty").mkdir()
    result = _cli(["--model", "tiny/empty", "--output", str(tmp_path / "out")], endpoint=hub, cache=tmp_path / "hf")
    assert result.returncode == 2 and "has no config.json (HTTP 404)" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
