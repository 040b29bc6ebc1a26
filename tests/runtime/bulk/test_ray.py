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


def test_beit_run_ray_uses_the_connected_cluster(two_node_cluster, beit_classifier_artifact, mixed_folder, tmp_path):
    from beit_runtime.cli import main

    local, on_ray = tmp_path / "local", tmp_path / "ray"
    assert main([str(beit_classifier_artifact), str(mixed_folder), "--output", str(local)]) == 3
    assert main([str(beit_classifier_artifact), str(mixed_folder), "--output", str(on_ray), "--ray"]) == 3
    records = [[json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
               for folder in (local, on_ray)]
    assert [r["image"] for r in records[1]] == [r["image"] for r in records[0]] == list(GOOD)
    for got, expected in zip(*records, strict=True):
        assert [p["id"] for p in got["predictions"]] == [p["id"] for p in expected["predictions"]]
        assert [p["score"] for p in got["predictions"]] == pytest.approx([p["score"] for p in expected["predictions"]])
    assert ray.is_initialized()  # the command left the test's connection open
