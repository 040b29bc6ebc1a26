"""The verified-digest cache: an unchanged file answers from its record, any change is hashed again."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from beit_runtime.errors import ArtifactIntegrityError
from beit_runtime.manifest import load_manifest, sha256_of
from beit_runtime.manifest.verified import cache_root, verified_sha256
from beit_runtime.planning.plan import plans_folder


def test_digest_is_recorded_once_and_reused(tmp_path):
    data = tmp_path / "weights.bin"
    data.write_bytes(b"abc" * 1000)
    root = tmp_path / "cache"
    assert verified_sha256(data, root=root) == sha256_of(data)
    [record] = (root / "verified").iterdir()
    stamp = record.stat().st_mtime_ns
    assert verified_sha256(data, root=root) == sha256_of(data)
    assert record.stat().st_mtime_ns == stamp and json.loads(record.read_text())["sha256"] == sha256_of(data)


def test_a_changed_file_of_the_same_size_and_mtime_is_hashed_again(tmp_path):
    data = tmp_path / "weights.bin"
    data.write_bytes(b"a" * 4096)
    root = tmp_path / "cache"
    before = data.stat()
    verified_sha256(data, root=root)
    data.write_bytes(b"b" * 4096)
    os.utime(data, ns=(before.st_atime_ns, before.st_mtime_ns))  # size and mtime put back; ctime moves on
    assert verified_sha256(data, root=root) == sha256_of(data)


def test_a_damaged_record_is_ignored(tmp_path):
    data = tmp_path / "weights.bin"
    data.write_bytes(b"xyz")
    root = tmp_path / "cache"
    verified_sha256(data, root=root)
    [record] = (root / "verified").iterdir()
    record.write_text("{not json")
    assert verified_sha256(data, root=root) == sha256_of(data)
    assert json.loads(record.read_text())["sha256"] == sha256_of(data)


def test_cache_root_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("BEIT_DEPLOY_CACHE", str(tmp_path / "here"))
    assert cache_root() == tmp_path / "here"
    monkeypatch.delenv("BEIT_DEPLOY_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "beit-deploy"
    monkeypatch.setenv("BEIT_DEPLOY_CACHE", "off")
    assert cache_root() is None
    assert plans_folder() == tmp_path / "xdg" / "beit-deploy" / "plans"  # plans are kept with the caches off


def test_load_manifest_still_refuses_a_changed_graph_after_a_verified_load(tmp_path, monkeypatch,
                                                                           beit_classifier_artifact):
    monkeypatch.setenv("BEIT_DEPLOY_CACHE", str(tmp_path / "cache"))
    artifact = shutil.copytree(beit_classifier_artifact, tmp_path / "artifact")
    load_manifest(artifact, verify_files=True)
    assert list((tmp_path / "cache" / "verified").iterdir())
    graph = artifact / "model.onnx"
    content, before = bytearray(graph.read_bytes()), graph.stat()
    content[-1] ^= 0xFF
    graph.write_bytes(bytes(content))
    os.utime(graph, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(ArtifactIntegrityError, match="does not match the hash"):
        load_manifest(artifact, verify_files=True)
