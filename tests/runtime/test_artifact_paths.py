"""Untrusted artifact folders: no manifest entry or ONNX external-data location may lead out of the folder.

Every refusal is an UnsafeArtifactPathError, which ONNX Runtime cannot raise: the check ran before
anything was handed to a backend. Positive controls load the same files when they are inside.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from beit_runtime import Classifier
from beit_runtime.errors import ArtifactError, ArtifactIntegrityError, UnsafeArtifactPathError
from beit_runtime.manifest import artifact_file, load_manifest, sha256_of
from beit_runtime.onnx_external_data import external_data_locations

PHOTO = (np.arange(40 * 48 * 3) % 251).astype(np.uint8).reshape(40, 48, 3)


def _record(path: Path) -> dict:
    return {"sha256": sha256_of(path), "bytes": path.stat().st_size}


def _edit(folder: Path, change) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    change(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture()
def artifact(beit_classifier_artifact, tmp_path) -> Path:
    return Path(shutil.copytree(beit_classifier_artifact, tmp_path / "artifact"))


@pytest.fixture()
def external_artifact(artifact) -> Path:
    """The classifier with its weights in external data ``weights.bin`` (inside the folder): it loads."""
    onnx.save_model(onnx.load(str(artifact / "model.onnx")), str(artifact / "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="weights.bin", size_threshold=1024)

    def change(manifest):
        manifest["graphs"]["fp32"]["external_data"] = ["weights.bin"]
        manifest["files"] = {name: _record(artifact / name) for name in ("model.onnx", "weights.bin")}

    _edit(artifact, change)
    return artifact


def _refused(folder: Path, match: str, **options) -> None:
    for verify_files in (True, False):
        with pytest.raises(UnsafeArtifactPathError, match=match):
            Classifier(folder, verify_files=verify_files, **options)


def test_positive_controls_load(external_artifact):
    with Classifier(external_artifact) as classifier:
        logits = classifier.logits(PHOTO)
    assert load_manifest(external_artifact).graph_path("fp32") == (external_artifact / "model.onnx").resolve()
    assert external_data_locations(external_artifact / "model.onnx") == ["weights.bin"]
    assert logits.shape == (10,) and np.isfinite(logits).all()


@pytest.mark.parametrize("outside", ["relative", "absolute"])
def test_graph_file_outside_the_folder(artifact, tmp_path, outside):
    target = tmp_path / "outside.onnx"
    shutil.copy(artifact / "model.onnx", target)  # a valid graph: without the check it would load
    name = "../outside.onnx" if outside == "relative" else str(target)

    def change(manifest):
        manifest["graphs"]["fp32"]["file"] = name
        manifest["files"] = {name: _record(target)}

    _edit(artifact, change)
    _refused(artifact, "graph 'fp32' file" if outside == "relative" else "absolute")


def test_graph_symlinked_out_of_the_folder(artifact, tmp_path):
    target = tmp_path / "outside.onnx"
    (artifact / "model.onnx").rename(target)
    (artifact / "model.onnx").symlink_to(target)  # same bytes, so the hash in the manifest still matches
    _refused(artifact, "resolves to .*outside the folder")


def test_symlinks_and_subfolders_inside_the_folder_are_fine(artifact):
    (artifact / "graphs").mkdir()
    (artifact / "model.onnx").rename(artifact / "graphs" / "model.onnx")
    (artifact / "model.onnx").symlink_to(Path("graphs") / "model.onnx")
    with Classifier(artifact) as classifier:
        assert classifier.logits(PHOTO).shape == (10,)
    assert load_manifest(artifact).graph_path() == (artifact / "graphs" / "model.onnx").resolve()


def test_external_data_symlinked_out_of_the_folder(external_artifact, tmp_path):
    (external_artifact / "weights.bin").rename(tmp_path / "weights.bin")
    (external_artifact / "weights.bin").symlink_to(tmp_path / "weights.bin")
    _refused(external_artifact, "'weights.bin'.*outside the folder")


@pytest.mark.parametrize("outside", ["relative", "absolute", "symlink"])
def test_external_data_location_inside_the_graph_leads_out(external_artifact, tmp_path, outside):
    """The manifest lists no external data (it lies); only the graph file itself points out."""
    target = tmp_path / "weights.bin"
    (external_artifact / "weights.bin").rename(target)
    location = {"relative": "../weights.bin", "absolute": str(target), "symlink": "link.bin"}[outside]
    if outside == "symlink":
        (external_artifact / "link.bin").symlink_to(target)
    model = onnx.load(str(external_artifact / "model.onnx"), load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    (external_artifact / "model.onnx").write_bytes(model.SerializeToString())

    def change(manifest):
        manifest["graphs"]["fp32"]["external_data"] = []
        manifest["files"] = {"model.onnx": _record(external_artifact / "model.onnx")}

    _edit(external_artifact, change)
    _refused(external_artifact, "external-data location inside model.onnx")


def test_missing_external_data_is_reported_before_loading(external_artifact):
    (external_artifact / "weights.bin").unlink()
    with pytest.raises(ArtifactIntegrityError, match=r"weights\.bin"):
        Classifier(external_artifact, verify_files=False)


@pytest.mark.parametrize("section", ["engine-relative", "engine-symlink", "external_data", "files"])
def test_other_manifest_names_leading_out(artifact, tmp_path, section):
    (tmp_path / "model.plan").write_bytes(b"not an engine")
    engine = {"graph": "fp32", "tensorrt_version": "10.0", "gpu_name": "x", "compute_capability": "9.0"}

    def change(manifest):
        if section == "engine-relative":
            manifest["engines"] = {"fp32": {**engine, "file": "../model.plan"}}
        elif section == "engine-symlink":
            manifest["engines"] = {"fp32": {**engine, "file": "model.plan"}}
        elif section == "external_data":
            manifest["graphs"]["fp32"]["external_data"] = ["../model.plan"]
        else:
            manifest["files"]["../model.plan"] = _record(tmp_path / "model.plan")

    _edit(artifact, change)
    if section == "engine-symlink":
        (artifact / "model.plan").symlink_to(tmp_path / "model.plan")
    with pytest.raises(UnsafeArtifactPathError, match=r"model\.plan"):
        load_manifest(artifact, verify_files=False)
    # backend="tensorrt": refused before TensorRT is even looked for (it is not installed here)
    _refused(artifact, "model.plan", backend="tensorrt" if section.startswith("engine") else "onnxruntime")


@pytest.mark.parametrize(
    "name, message",
    [("../x.onnx", r"'\.\.' part"), ("a/../../x.onnx", r"'\.\.' part"), ("/etc/passwd", "absolute"),
     ("C:/x.onnx", "absolute"), ("C:x.onnx", "drive letter"), ("model.onnx\x00.txt", "NUL"),
     ("..\\x.onnx", "backslash"), ("a//b.onnx", "empty"), ("./model.onnx", "'.'"), ("", "empty"),
     (3, "not a file name"), (None, "not a file name")],
)
def test_artifact_file_refuses_names_that_are_not_plain(tmp_path, name, message):
    with pytest.raises(UnsafeArtifactPathError, match=message):
        artifact_file(tmp_path, name, what="graph 'fp32' file")


def test_artifact_file_accepts_plain_names(tmp_path):
    (tmp_path / "sub").mkdir()
    assert artifact_file(tmp_path, "model.onnx") == tmp_path.resolve() / "model.onnx"
    assert artifact_file(tmp_path, "sub/model.onnx.data") == tmp_path.resolve() / "sub" / "model.onnx.data"
    os.symlink(tmp_path / "loop", tmp_path / "loop")
    with pytest.raises(ArtifactError):
        artifact_file(tmp_path, "loop")


# ------------------------------------------------------------- the wire-format scan, against onnx itself
def _external(name: str, location: str) -> TensorProto:
    tensor = helper.make_tensor(name, TensorProto.FLOAT, [2], np.zeros(2, np.float32).tobytes(), raw=True)
    onnx.external_data_helper.set_external_data(tensor, location=location, offset=0, length=8)
    tensor.data_location = TensorProto.EXTERNAL
    tensor.ClearField("raw_data")
    return tensor


def _everywhere_model() -> onnx.ModelProto:
    """External tensors as initializer, Constant attribute, in If branches, as sparse values and in a function."""
    constant = helper.make_node("Constant", [], ["c"], value=_external("c", "constant.bin"))
    branch = lambda tag: helper.make_graph(  # noqa: E731
        [helper.make_node("Identity", [f"w_{tag}"], [f"out_{tag}"])], tag, [],
        [helper.make_tensor_value_info(f"out_{tag}", TensorProto.FLOAT, [2])], [_external(f"w_{tag}", f"{tag}.bin")])
    branching = helper.make_node("If", ["flag"], ["y"], then_branch=branch("then"), else_branch=branch("else"))
    indices = helper.make_tensor("i", TensorProto.INT64, [1], [0])
    sparse = helper.make_sparse_tensor(_external("s", "sparse.bin"), indices, [2])
    graph = helper.make_graph([constant, branching], "g", [helper.make_tensor_value_info("flag", TensorProto.BOOL, [])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
                              [_external("w", "sub/weights.bin")], sparse_initializer=[sparse])
    function = helper.make_function("local", "f", [], ["z"], [helper.make_node("Constant", [], ["z"],
                                    value=_external("z", "function.bin"))], [helper.make_opsetid("", 18)])
    return helper.make_model(graph, functions=[function], opset_imports=[helper.make_opsetid("", 18),
                                                                           helper.make_opsetid("local", 1)])


def test_scan_finds_every_location_onnx_knows_of(tmp_path):
    model = _everywhere_model()
    path = tmp_path / "model.onnx"
    path.write_bytes(model.SerializeToString())
    from onnx.external_data_helper import _get_all_tensors, uses_external_data

    known = {entry.value for tensor in _get_all_tensors(model) if uses_external_data(tensor)
             for entry in tensor.external_data if entry.key == "location"}
    found = set(external_data_locations(path))
    assert known <= found
    assert found == {"constant.bin", "then.bin", "else.bin", "sparse.bin", "sub/weights.bin", "function.bin"}


def test_scan_skips_unknown_groups_and_refuses_corrupt_files(tmp_path):
    inner = _everywhere_model().graph.SerializeToString()
    group = _varint((99 << 3) | 3) + b"\x08\x01" + _varint((99 << 3) | 4)  # field 99 as a group holding field 1
    data = group + _varint((7 << 3) | 2) + _varint(len(inner)) + inner  # unknown group, then ModelProto.graph
    assert onnx.ModelProto.FromString(data).graph.name == "g"  # protobuf accepts it
    (tmp_path / "grouped.onnx").write_bytes(data)
    assert "sub/weights.bin" in external_data_locations(tmp_path / "grouped.onnx")
    (tmp_path / "truncated.onnx").write_bytes(data[: len(data) - 7])
    with pytest.raises(ArtifactIntegrityError, match="well-formed"):
        external_data_locations(tmp_path / "truncated.onnx")


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)
