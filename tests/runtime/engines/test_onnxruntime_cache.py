"""The ONNX Runtime optimized-model cache on a real tiny graph: written once, reused, repaired, or skipped."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from beit_runtime import Classifier
from beit_runtime.engines import load_engine, onnxruntime_cache
from beit_runtime.engines.onnxruntime_cache import DATA_FILE, ENTRY_FILE, GRAPH_FILE
from beit_runtime.engines.onnxruntime_engine import OnnxRuntimeEngine

CPU = ["CPUExecutionProvider"]


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("BEIT_DEPLOY_CACHE", str(folder))
    monkeypatch.setattr(onnxruntime_cache, "_warned", set())
    return folder


def _pixels() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)


def _logits(graph: Path, **options) -> tuple[np.ndarray, str]:
    with load_engine(graph, providers=CPU, **options) as engine:
        return engine.run({"pixel_values": _pixels()})["logits"], engine.optimized_cache


def _status(engine) -> str:
    assert isinstance(engine, OnnxRuntimeEngine)
    return engine.optimized_cache


def _entries(cache: Path) -> list[Path]:
    return sorted(path for path in (cache / "onnxruntime").iterdir() if not path.name.startswith("."))


def test_first_load_writes_an_entry_and_the_next_reuses_it(cache, beit_classifier_artifact):
    graph = beit_classifier_artifact / "model.onnx"
    reference, status = _logits(graph, optimized_cache=False)
    assert status == "off" and not cache.exists()
    first, status = _logits(graph)
    assert status == "written"
    [entry] = _entries(cache)
    assert {GRAPH_FILE, ENTRY_FILE} <= {item.name for item in entry.iterdir()}
    stamps = {item.name: item.stat().st_mtime_ns for item in entry.iterdir() if item.name != ENTRY_FILE}
    second, status = _logits(graph)
    assert status == "hit" and _entries(cache) == [entry]
    assert {item.name: item.stat().st_mtime_ns for item in entry.iterdir() if item.name != ENTRY_FILE} == stamps
    np.testing.assert_allclose(first, reference, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(second, first)


def test_classifier_loads_from_the_cache_on_its_second_start(cache, beit_classifier_artifact):
    image = np.random.default_rng(1).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    with Classifier(beit_classifier_artifact, backend="onnxruntime", precision="fp32") as first:
        assert _status(first.engine) == "written"
        expected = [(p.label, p.score) for p in first(image, top_k=3)]
    with Classifier(beit_classifier_artifact, backend="onnxruntime", precision="fp32") as second:
        assert _status(second.engine) == "hit"
        assert [(p.label, p.score) for p in second(image, top_k=3)] == expected
    assert list((cache / "verified").glob("*.json"))  # the graph's digest, recorded by the manifest check


def test_a_truncated_entry_is_ignored_and_written_again(cache, beit_classifier_artifact):
    graph = beit_classifier_artifact / "model.onnx"
    expected, _ = _logits(graph)
    [entry] = _entries(cache)
    damaged = entry / (DATA_FILE if (entry / DATA_FILE).exists() else GRAPH_FILE)
    damaged.write_bytes(damaged.read_bytes()[:100])
    again, status = _logits(graph)
    assert status == "written"
    np.testing.assert_array_equal(again, expected)
    assert _logits(graph)[1] == "hit"


def test_an_entry_onnxruntime_refuses_is_removed_and_written_again(cache, beit_classifier_artifact):
    graph = beit_classifier_artifact / "model.onnx"
    expected, _ = _logits(graph)
    [entry] = _entries(cache)
    size = (entry / GRAPH_FILE).stat().st_size
    (entry / GRAPH_FILE).write_bytes(b"\xff" * size)  # same size: only loading it shows the damage
    with pytest.warns(RuntimeWarning, match="refused the cached optimized graph"):
        again, status = _logits(graph)
    assert status == "written"
    np.testing.assert_array_equal(again, expected)
    assert _logits(graph)[1] == "hit"


def test_an_unwritable_cache_warns_once_and_loads_without_it(tmp_path, monkeypatch, beit_classifier_artifact):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("BEIT_DEPLOY_CACHE", str(blocker / "cache"))
    monkeypatch.setattr(onnxruntime_cache, "_warned", set())
    graph = beit_classifier_artifact / "model.onnx"
    with pytest.warns(RuntimeWarning, match="cache is not used: .*cannot be created"):
        first, status = _logits(graph)
    assert status == "off"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second, status = _logits(graph)
    assert status == "off"
    np.testing.assert_array_equal(second, first)


def test_cache_off_by_environment(tmp_path, monkeypatch, beit_classifier_artifact):
    monkeypatch.setenv("BEIT_DEPLOY_CACHE", "off")
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _logits(beit_classifier_artifact / "model.onnx")[1] == "off"
    assert not list(tmp_path.iterdir())


def test_entries_are_keyed_by_graph_and_stale_folders_are_removed(cache, beit_classifier_artifact,
                                                                 vit_classifier_artifact):
    folder = cache / "onnxruntime"
    names = (".staging-old-1-1", ".staging-new-2-2", "unused-entry", "recent-entry")
    stale, fresh, unused, recent = (folder / name for name in names)
    for item in (stale, fresh, unused, recent):
        item.mkdir(parents=True)
    for entry in (unused, recent):
        (entry / ENTRY_FILE).write_text('{"files": {}}')
    month = 31 * 86400
    os.utime(stale, (0, 0))
    os.utime(unused / ENTRY_FILE, (time.time() - month, time.time() - month))
    assert _logits(beit_classifier_artifact / "model.onnx")[1] == "written"
    assert _logits(vit_classifier_artifact / "model.onnx")[1] == "written"
    assert not stale.exists() and not unused.exists()
    assert fresh.exists() and recent.exists()  # a staging folder under an hour old may still be in use
    assert len(_entries(cache)) == 3  # two graphs, two entries; and the recent one


def test_a_hit_records_its_use(cache, beit_classifier_artifact):
    graph = beit_classifier_artifact / "model.onnx"
    _logits(graph)
    [entry] = _entries(cache)
    os.utime(entry / ENTRY_FILE, (0, 0))
    assert _logits(graph)[1] == "hit"
    assert time.time() - (entry / ENTRY_FILE).stat().st_mtime < 3600


def test_processes_writing_the_same_entry_at_once_leave_one_complete_entry(cache, beit_classifier_artifact):
    code = ("import sys; from beit_runtime.engines import load_engine; "
            "print(load_engine(sys.argv[1], providers=['CPUExecutionProvider']).optimized_cache)")
    env = {**os.environ, "BEIT_DEPLOY_CACHE": str(cache)}
    children = [subprocess.Popen([sys.executable, "-c", code, str(beit_classifier_artifact / "model.onnx")],
                                 env=env, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    try:
        statuses = [child.communicate(timeout=120)[0].strip() for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    assert [child.returncode for child in children] == [0, 0, 0]
    assert set(statuses) <= {"written", "hit"} and "written" in statuses
    [entry] = _entries(cache)
    assert not [item for item in (cache / "onnxruntime").iterdir() if item.name.startswith(".staging-")]
    assert (entry / ENTRY_FILE).is_file() and _logits(beit_classifier_artifact / "model.onnx")[1] == "hit"

