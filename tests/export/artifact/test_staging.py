"""Staged artifact folders (all or nothing), manifest writing and validation."""

from __future__ import annotations

import json

import onnx
import pytest
from onnx import TensorProto, helper

from beit_export.artifact import (
    OutputExistsError,
    check_output,
    file_records,
    graph_entry,
    staged_artifact,
    write_export_manifest,
)
from beit_runtime.errors import ArtifactIntegrityError, ManifestError
from beit_runtime.manifest import load_manifest

PREPROCESSING = {"do_resize": True, "size": {"height": 4, "width": 4}, "resample": "bilinear", "do_rescale": True,
                 "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": [0.5] * 3, "image_std": [0.5] * 3}


def _leftovers(parent):
    return sorted(path.name for path in parent.iterdir())


def _tiny_graph(path):
    x = helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, 4, 4])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3, 4, 4])
    graph = helper.make_graph([helper.make_node("Relu", ["pixel_values"], ["logits"])], "g", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))


def _fields(folder):
    _tiny_graph(folder / "model.onnx")
    return {
        "task": "image-classification",
        "source": {"model": "x", "revision": None, "architecture": "A", "model_type": "beit", "random_init": True},
        "input": {"height": 4, "width": 4, "patch_size": 2, "dynamic_batch": True, "dynamic_resolution": False,
                  "num_channels": 3},
        "preprocessing": PREPROCESSING,
        "labels": {"0": "a"},
        "graphs": {"fp32": graph_entry(folder, "model.onnx", precision="fp32", opset=18)},
    }


def test_success_moves_folder_into_place(tmp_path):
    output = tmp_path / "out"
    with staged_artifact(output) as staging:
        assert staging.parent == tmp_path and staging.name.startswith(".out.partial-")
        assert not output.exists()
        (staging / "a.txt").write_text("a")
    assert (output / "a.txt").read_text() == "a"
    assert _leftovers(tmp_path) == ["out"]
    assert output.stat().st_mode & 0o055  # group/other can read: not mkdtemp's private 0700


@pytest.mark.parametrize("failure", [RuntimeError("boom"), KeyboardInterrupt()])
def test_failure_leaves_nothing(tmp_path, failure):
    with pytest.raises(type(failure)), staged_artifact(tmp_path / "out") as staging:
        (staging / "model.onnx").write_bytes(b"partial")
        raise failure
    assert _leftovers(tmp_path) == []


def test_failure_keeps_previous_artifact(tmp_path):
    output = tmp_path / "out"
    output.mkdir()
    (output / "old.txt").write_text("old")
    (output / "manifest.json").write_text(json.dumps({"format": "beit-deploy-artifact"}))
    with pytest.raises(RuntimeError), staged_artifact(output, overwrite=True):
        raise RuntimeError("boom")
    assert (output / "old.txt").read_text() == "old" and _leftovers(tmp_path) == ["out"]


def test_existing_output(tmp_path):
    output = tmp_path / "out"
    output.mkdir()
    check_output(output, overwrite=False)  # empty folder: fine
    (output / "old.txt").write_text("old")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        check_output(output, overwrite=False)
    (output / "manifest.json").write_text(json.dumps({"format": "beit-deploy-artifact"}))  # an earlier artifact
    with staged_artifact(output, overwrite=True) as staging:
        (staging / "new.txt").write_text("new")
    assert _leftovers(output) == ["new.txt"] and _leftovers(tmp_path) == ["out"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputExistsError, match="is a file"):
        check_output(tmp_path / "file", overwrite=True)


def test_manifest_is_complete_and_validated(tmp_path):
    folder = tmp_path / "art"
    folder.mkdir()
    written = write_export_manifest(folder, _fields(folder))
    manifest = load_manifest(folder)
    assert manifest == written
    data = json.loads((folder / "manifest.json").read_text())
    assert manifest.to_json() == data
    assert data["format"] == "beit-deploy-artifact" and data["schema_version"] == 2 and "plans" not in data
    assert set(manifest.files) == {"model.onnx"} and manifest.files == file_records(folder)
    assert data["files"]["model.onnx"]["bytes"] == (folder / "model.onnx").stat().st_size
    assert len(data["files"]["model.onnx"]["sha256"]) == 64
    assert {"torch", "transformers", "onnx", "onnxruntime", "beit_deploy"} <= set(data["versions"])
    assert "T" in data["created"] and data["created"].endswith("+00:00")
    graph = data["graphs"]["fp32"]
    assert graph["inputs"] == [{"name": "pixel_values", "dtype": "float32", "shape": ["batch", 3, 4, 4]}]
    assert graph["outputs"][0]["name"] == "logits" and graph["opset"] == 18 and graph["external_data"] == []
    (folder / "model.onnx").write_bytes(b"tampered")
    with pytest.raises(ArtifactIntegrityError):
        load_manifest(folder)


def test_manifest_without_fp32_graph_is_refused(tmp_path):
    fields = _fields(tmp_path)
    fields["graphs"] = {"fp16": fields["graphs"]["fp32"]}
    with pytest.raises(ManifestError, match="fp32"):
        write_export_manifest(tmp_path, fields)


def test_the_exporter_never_records_unsafe_names(tmp_path):
    from beit_export.errors import ExportError

    outside = tmp_path / "outside.onnx"
    _tiny_graph(outside)
    folder = tmp_path / "art"
    folder.mkdir()
    for bad in ("../outside.onnx", str(outside), "sub/../../outside.onnx"):
        with pytest.raises(ExportError, match="refusing to record"):
            graph_entry(folder, bad, precision="fp32", opset=18)
    (folder / "linked.onnx").symlink_to(outside)
    with pytest.raises(ExportError, match="refusing to record"):
        graph_entry(folder, "linked.onnx", precision="fp32", opset=18)
    with pytest.raises(ExportError, match=r"symbolic link|outside"):
        file_records(folder)
    (folder / "linked.onnx").unlink()
    (folder / "inner.txt").write_text("x")
    (folder / "alias.txt").symlink_to(folder / "inner.txt")  # a link that stays inside is refused too
    with pytest.raises(ExportError, match="symbolic link"):
        file_records(folder)


def test_the_manifest_records_every_external_data_file_the_runtime_checks(tmp_path):
    """An If branch's constant keeps its data in a file of its own: the record names it with the top-level one."""
    from beit_runtime.onnx_external_data import external_data_locations

    def external(name, location):
        tensor = helper.make_tensor(name, TensorProto.FLOAT, [2], [1.0, 2.0])
        tensor.ClearField("float_data")
        tensor.data_location = TensorProto.EXTERNAL
        tensor.external_data.add(key="location", value=location)
        return tensor

    def branch(name):
        out = helper.make_tensor_value_info(f"{name}_y", TensorProto.FLOAT, [2])
        node = helper.make_node("Constant", [], [f"{name}_y"], value=external(f"{name}_c", f"{name}.bin"))
        return helper.make_graph([node], name, [], [out])

    node = helper.make_node("If", ["flag"], ["y"], then_branch=branch("then"), else_branch=branch("else"))
    flag = helper.make_tensor_value_info("flag", TensorProto.BOOL, [])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    graph = helper.make_graph([node], "g", [flag], [y], [external("w", "weights.bin")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    (tmp_path / "model.onnx").write_bytes(model.SerializeToString())
    for name in ("weights.bin", "then.bin", "else.bin"):
        (tmp_path / name).write_bytes(bytes(8))
    entry = graph_entry(tmp_path, "model.onnx", precision="fp32", opset=18)
    assert list(entry.external_data) == external_data_locations(tmp_path / "model.onnx")
    assert entry.external_data == ("else.bin", "then.bin", "weights.bin")
