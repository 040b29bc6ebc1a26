"""The headline command through the real download path, against a local server in the hub's URL layout.

``hub_server`` serves tiny checkpoints on 127.0.0.1 the way huggingface.co does (``resolve/<revision>/<file>``,
weights through a redirect to a CDN origin, the headers huggingface_hub reads). The real CLI runs as
``python -m beit_export`` subprocesses with ``HF_ENDPOINT`` pointed at it and a temporary HF cache: first
every online run (the downloads and the failures, a few at a time), then the runs that must not reach it
(HF_HUB_OFFLINE=1, or a hub that is not there). The tests below check what each run did.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import save_model_folder
from tests.export.cli.hub_server import COMMIT, DROPPED_REPO, TAG, HubLayout, HubRepo, git_blob_sha1, local_hub
from tests.tiny_models import tiny_model

REPO = Path(__file__).resolve().parents[3]
SAFE, BIN = "tiny/vit-safetensors", "tiny/beit-bin"


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    cache: str
    offline: bool = False
    endpoint: str | None = None  # None: the local hub
    download_timeout: int = 5


def _closed_port_endpoint() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"  # nothing listens there once closed


def _online_runs() -> dict[str, Run]:
    return {
        "download": Run(("--model", SAFE, "--fp16"), "hf-main"),
        "bin": Run(("--model", BIN, "--revision", TAG), "hf-bin"),
        "no-repo": Run(("--model", "tiny/no-such-repo"), "hf-no-repo"),
        "no-revision": Run(("--model", SAFE, "--revision", "v9"), "hf-no-revision"),
        "no-config": Run(("--model", "tiny/empty"), "hf-no-config"),
        "no-weights": Run(("--model", "tiny/config-only"), "hf-no-weights"),
        "dropped": Run(("--model", DROPPED_REPO), "hf-dropped"),
        "download-dropped": Run(("--model", "tiny/cdn-drops"), "hf-download-dropped"),
        "download-timeout": Run(("--model", "tiny/cdn-stalls"), "hf-download-timeout", download_timeout=1),
        "refused": Run(("--model", SAFE), "hf-refused", endpoint=_closed_port_endpoint()),
    }


def _cache_runs() -> dict[str, Run]:
    """Runs that must not reach the local hub: HF_HUB_OFFLINE=1, or a hub that is not there (a closed port, a
    host name that never resolves: RFC 2606's .invalid), after the online runs filled their caches."""
    return {
        "download-offline": Run(("--model", SAFE, "--fp16"), "hf-main", offline=True),
        "bin-offline": Run(("--model", BIN, "--revision", TAG), "hf-bin", offline=True),
        "offline-miss": Run(("--model", SAFE), "hf-empty", offline=True),
        "download-unreachable": Run(("--model", SAFE), "hf-main", endpoint=_closed_port_endpoint()),
        "unresolvable": Run(("--model", SAFE), "hf-empty", endpoint="http://hub.invalid"),
    }


def _cli(name: str, run: Run, *, root: Path, endpoint: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(PYTHONPATH=str(REPO), HF_ENDPOINT=run.endpoint or endpoint, HF_HOME=str(root / run.cache),
               HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_XET="1", HF_HUB_ETAG_TIMEOUT="5",
               HF_HUB_DOWNLOAD_TIMEOUT=str(run.download_timeout), HF_HUB_OFFLINE="1" if run.offline else "0")
    env.pop("TRANSFORMERS_CACHE", None)
    command = [sys.executable, "-m", "beit_export", *run.args, "--output", str(root / name), "--quiet"]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=240, check=False)


def _run_all(runs: dict[str, Run], *, root: Path, endpoint: str) -> dict[str, subprocess.CompletedProcess]:
    with ThreadPoolExecutor(max_workers=5) as pool:
        futures = {name: pool.submit(_cli, name, run, root=root, endpoint=endpoint) for name, run in runs.items()}
        return {name: future.result() for name, future in futures.items()}


@dataclass
class HubRuns:
    root: Path
    layout: HubLayout
    results: dict[str, subprocess.CompletedProcess]
    offline_requests: list[str]

    def manifest(self, name: str) -> dict:
        assert self.results[name].returncode == 0, self.results[name].stderr
        return json.loads((self.root / name / "manifest.json").read_text())


@pytest.fixture(scope="module")
def hub_runs(tmp_path_factory) -> HubRuns:
    root = tmp_path_factory.mktemp("hub")
    safe = save_model_folder(tiny_model("vit", "image-classification"), root / "src-safe")
    weights_only_bin = save_model_folder(tiny_model("beit", "backbone"), root / "src-bin", safe=False)
    config_only = {"config.json": (safe / "config.json").read_bytes()}
    layout = HubLayout(repos={
        SAFE: HubRepo.from_folder(safe, cdn="drops-once"),  # the first weights download is cut halfway
        BIN: HubRepo.from_folder(weights_only_bin),
        "tiny/empty": HubRepo({}),
        "tiny/config-only": HubRepo(config_only),
        "tiny/cdn-drops": HubRepo.from_folder(safe, cdn="drops"),
        "tiny/cdn-stalls": HubRepo.from_folder(safe, cdn="stalls"),
    })
    with local_hub(layout) as endpoint:
        results = _run_all(_online_runs(), root=root, endpoint=endpoint)
        seen = len(layout.requests)
        results.update(_run_all(_cache_runs(), root=root, endpoint=endpoint))
        offline_requests = layout.requests[seen:]
    return HubRuns(root, layout, results, offline_requests)


def _repo_cache(runs: HubRuns, cache: str, repo_id: str) -> Path:
    return runs.root / cache / "hub" / f"models--{repo_id.replace('/', '--')}"


def test_the_headline_command_downloads_exports_fp16_and_records_the_commit(hub_runs):
    manifest = hub_runs.manifest("download")
    assert manifest["source"]["model"] == SAFE and manifest["source"]["revision"] == COMMIT
    assert manifest["source"]["random_init"] is False
    assert set(manifest["graphs"]) == {"fp32", "fp16"} and manifest["parity"]["fp16"]["passed"]
    asked = [line for line in hub_runs.layout.requests if f"/{SAFE}/resolve/main/" in line]
    fetched = {line.rsplit("/", 1)[-1] for line in asked}
    assert fetched >= {"config.json", "preprocessor_config.json", "model.safetensors"}
    weights = (hub_runs.root / "src-safe" / "model.safetensors").read_bytes()
    sha256 = hashlib.sha256(weights).hexdigest()
    cdn_gets = [line for line in hub_runs.layout.requests if line.startswith(f"GET cdn /{SAFE}/{sha256}")]
    assert len(cdn_gets) == 2, cdn_gets  # the cut download was retried by huggingface_hub
    cache = _repo_cache(hub_runs, "hf-main", SAFE)
    assert (cache / "blobs" / sha256).read_bytes() == weights  # named by X-Linked-Etag, complete after the cut
    config = (hub_runs.root / "src-safe" / "config.json").read_bytes()
    assert (cache / "blobs" / git_blob_sha1(config)).read_bytes() == config  # named by the ETag
    assert (cache / "refs" / "main").read_text() == COMMIT  # from X-Repo-Commit


def test_the_same_command_offline_works_from_the_cache(hub_runs):
    manifest = hub_runs.manifest("download-offline")
    assert hub_runs.offline_requests == [], "offline runs must not send requests"
    assert manifest["source"]["revision"] == COMMIT
    assert manifest["files"]["model.onnx"] == hub_runs.manifest("download")["files"]["model.onnx"]


@pytest.mark.parametrize("name", ["refused", "unresolvable", "download-unreachable"])
def test_a_hub_that_is_not_there_is_known_from_one_connection_not_five_retries(hub_runs, name):
    result = hub_runs.results[name]
    assert "Retrying" not in result.stderr, result.stderr  # huggingface_hub's backoff never started
    if name == "download-unreachable":  # the cache had it: the export ran from the cached snapshot
        assert hub_runs.manifest(name)["source"]["revision"] == COMMIT


def test_a_repository_with_only_pytorch_model_bin_at_a_tag(hub_runs):
    manifest = hub_runs.manifest("bin")
    assert manifest["task"] == "backbone" and manifest["source"]["revision"] == COMMIT  # the tag's commit
    assert any(line.endswith(f"/{BIN}/resolve/{TAG}/pytorch_model.bin") for line in hub_runs.layout.requests)
    cache = _repo_cache(hub_runs, "hf-bin", BIN)
    assert (cache / ".no_exist" / COMMIT / "model.safetensors").is_file()  # the 404's X-Repo-Commit was kept
    assert (cache / "refs" / TAG).read_text() == COMMIT
    assert hub_runs.manifest("bin-offline")["source"]["revision"] == COMMIT


@pytest.mark.parametrize(("name", "expected"), [
    ("no-repo", "not a hub repository"),
    ("no-revision", "no revision 'v9' (HTTP 404)"),
    ("no-config", "has no config.json (HTTP 404)"),
    ("no-weights", "has none of model.safetensors, model.safetensors.index.json, pytorch_model.bin, "
                   "pytorch_model.bin.index.json (HTTP 404 for each"),
    ("dropped", "dropped while fetching config.json"),
    ("download-dropped", "dropped while fetching model.safetensors"),
    ("download-timeout", "did not answer in time while fetching model.safetensors"),
    ("refused", "cannot connect to the hub"),
    ("unresolvable", "cannot connect to the hub at http://hub.invalid to fetch config.json"),
    ("offline-miss", "HF_HUB_OFFLINE=1 is set and config.json"),
])
def test_hub_failures_are_one_line_errors_naming_the_fix(hub_runs, name, expected):
    result = hub_runs.results[name]
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("beit-export: error:")]
    assert len(errors) == 1 and expected in errors[0], result.stderr
    assert "--model" in errors[0] or "--revision" in errors[0]  # it says what to pass instead
    assert not (hub_runs.root / name).exists()
    assert not [path for path in hub_runs.root.iterdir() if path.name.startswith(f".{name}.")]
