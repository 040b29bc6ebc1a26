"""The folder run on Ray Data, on a real local cluster of two nodes started here (``ray.cluster_utils.Cluster``,
one CPU each, an actor on each): the same outputs and results as the local run."""

from __future__ import annotations

import json

import pytest

from beit_runtime.bulk import BulkOptions, run_folder, run_on_ray

from .conftest import BROKEN, GOOD

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def two_node_cluster():
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": 100 * 2**20})
    cluster.add_node(num_cpus=1, object_store_memory=100 * 2**20)
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


def _files(folder):
    """Every output file's bytes; errors.jsonl as (image, error type) (Pillow's reasons name object addresses)."""
    files = {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*"))
             if path.is_file() and path.name not in ("run.json", "errors.jsonl")}
    errors = [json.loads(line) for line in (folder / "errors.jsonl").read_text(encoding="utf-8").splitlines()]
    return files, [(error["image"], error["error"]) for error in errors]


def test_two_nodes_write_what_the_local_run_writes(two_node_cluster, beit_segmentation_artifact, mixed_folder,
                                                     tmp_path):
    # two nodes of one CPU each and two actors of one CPU each: one actor on each node
    assert len([node for node in ray.nodes() if node["Alive"]]) == 2 and ray.cluster_resources()["CPU"] == 2
    local = run_folder(beit_segmentation_artifact, [mixed_folder], batch_size=2,
                       options=BulkOptions(output=tmp_path / "local", overlays=True, progress="off"))
    on_ray = run_on_ray(beit_segmentation_artifact, [mixed_folder], batch_size=2, actors=2, actor_cpus=1,
                        options=BulkOptions(output=tmp_path / "ray", overlays=True, progress="off"))
    assert (on_ray.succeeded, on_ray.failed) == (local.succeeded, local.failed) == (len(GOOD), len(BROKEN))
    assert _files(tmp_path / "ray") == _files(tmp_path / "local")  # label maps, overlays, results and errors
    again = run_on_ray(beit_segmentation_artifact, [mixed_folder], batch_size=2,
                       options=BulkOptions(output=tmp_path / "ray", overlays=True, progress="off"))
    assert (again.skipped, again.succeeded, again.failed) == (len(GOOD), 0, len(BROKEN))  # resumes like the local run


def test_beit_run_ray_uses_the_connected_cluster(two_node_cluster, beit_classifier_artifact, mixed_folder, tmp_path,
                                                 monkeypatch):
    from beit_runtime.cli import main

    local, on_ray = tmp_path / "local", tmp_path / "ray"
    monkeypatch.chdir(mixed_folder.parent)  # the photos named relative to here, as a user types them
    assert main([str(beit_classifier_artifact), mixed_folder.name, "--output", str(local)]) == 3
    assert main([str(beit_classifier_artifact), mixed_folder.name, "--output", str(on_ray), "--ray"]) == 3
    reasons = [[json.loads(line)["reason"] for line in (folder / "errors.jsonl").read_text().splitlines()]
               for folder in (local, on_ray)]
    assert reasons[0][0].startswith(f"{mixed_folder.name}/broken/truncated.jpg is not a decodable image")
    assert reasons[1] == reasons[0]  # relative as given, not the absolute paths the actors read
    records = [[json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
               for folder in (local, on_ray)]
    assert [r["image"] for r in records[1]] == [r["image"] for r in records[0]] == list(GOOD)
    for got, expected in zip(*records, strict=True):
        assert [p["id"] for p in got["predictions"]] == [p["id"] for p in expected["predictions"]]
        assert [p["score"] for p in got["predictions"]] == pytest.approx([p["score"] for p in expected["predictions"]])
    assert ray.is_initialized()  # the command left the test's connection open


def test_a_lost_worker_node_ends_the_run_in_one_line_instead_of_hanging(beit_segmentation_artifact, mixed_folder,
                                                                        tmp_path):
    """A node removed mid-run: the actor Ray restarted there waited forever for CPUs that were gone and the run
    hung without a word. Now the run ends (exit 1) naming the lost actor, and OUT keeps every image done once."""
    import os
    import subprocess
    import sys
    import time

    from ray.cluster_utils import Cluster

    photos = tmp_path / "photos"
    photos.mkdir()
    for index in range(600):  # enough that the run is midway when the node goes (about 15 s here)
        os.link(mixed_folder / "rocket.jpg", photos / f"{index:03d}.jpg")
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": 80 * 2**20})
    worker = cluster.add_node(num_cpus=1, object_store_memory=80 * 2**20)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "beit_runtime.cli", str(beit_segmentation_artifact), str(photos), "--output",
               str(out), "--batch-size", "2", "--overlays", f"--ray={cluster.address}"]
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not _has_a_line(out / "results.jsonl") and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.1)
        cluster.remove_node(worker)
        printed, err = run.communicate(timeout=120)
    finally:
        run.kill()
        cluster.shutdown()
    assert run.returncode == 1, err[-2000:]
    assert "a Ray worker was lost during the run (ActorDiedError: " in err
    assert "INFO streaming_executor" not in err and "RayDeprecationWarning" not in err  # Ray Data's chatter off
    assert "Traceback" not in err and "ERROR" not in err and printed == ""  # its tracebacks, the raylet's notices
    assert f"{out} keeps every image done: rerun the same command to go on" in err
    names = [json.loads(line)["image"] for line in (out / "results.jsonl").read_text().splitlines()]
    assert 0 < len(names) < 600 and len(set(names)) == len(names)


def _has_a_line(path):
    return path.is_file() and path.stat().st_size > 0
