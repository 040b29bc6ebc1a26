"""``beit-export triton`` warms every model with one real image: the files in each model's ``warmup/``
folder are that image, its pixel values and the engine's outputs on them (what the runtime computes
in-process), and each config's ``model_warmup`` names them; ``warmup=False`` writes none."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from beit_export.cli import main as beit_export
from beit_export.triton import TritonRepositoryOptions, write_repository
from beit_export.triton.warmup import WARMUP_FOLDER, string_tensor_bytes, warmup_image
from beit_runtime import Classifier, Preprocessor, Segmenter, load_image, load_manifest


def config_of(repo, model) -> model_config_pb2.ModelConfig:
    return text_format.Parse((repo / model / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())


def read_warmup(repo, model, name, dtype) -> np.ndarray:
    """A warmup file as an array of the shape its config's model_warmup gives (batch 1 first)."""
    (sample,) = config_of(repo, model).model_warmup
    assert sample.batch_size == 1 and sample.inputs[name].input_data_file == name
    data = np.frombuffer((repo / model / WARMUP_FOLDER / name).read_bytes(), dtype=np.dtype(dtype).newbyteorder("<"))
    return data.reshape(1, *sample.inputs[name].dims)


def test_the_warmup_image_is_a_small_real_png():
    image = warmup_image()
    assert image[:8] == b"\x89PNG\r\n\x1a\n" and 20_000 < len(image) < 150_000
    decoded = load_image(image)
    assert decoded.shape == (149, 224, 3) and decoded.std() > 20  # a photo, not a flat test card


def test_string_files_hold_length_prefixed_elements():
    assert string_tensor_bytes([b"ab", b""]) == b"\x02\x00\x00\x00ab\x00\x00\x00\x00"


@pytest.mark.parametrize("backend", ["python", "onnxruntime"])
def test_classification_models_are_warmed_with_the_image_its_pixels_and_its_logits(beit_classifier_artifact,
                                                                                   tmp_path, backend):
    repo = write_repository(beit_classifier_artifact, tmp_path / "repo",
                            options=TritonRepositoryOptions(name="cls", model_backend=backend))
    image = warmup_image()
    assert (repo / "cls_preprocess" / WARMUP_FOLDER / "image").read_bytes() == struct.pack("<I", len(image)) + image
    pre = config_of(repo, "cls_preprocess").model_warmup[0].inputs["image"]
    assert model_config_pb2.DataType.Name(pre.data_type) == "TYPE_STRING" and list(pre.dims) == [1]
    manifest = load_manifest(beit_classifier_artifact)
    pixels = Preprocessor.from_manifest(manifest)(load_image(image))[None]
    np.testing.assert_array_equal(read_warmup(repo, "cls_engine", "pixel_values", np.float32), pixels)
    with Classifier(beit_classifier_artifact, backend="onnxruntime") as classifier:
        want = classifier.logits([image])
    np.testing.assert_allclose(read_warmup(repo, "cls_postprocess", "logits", np.float32), want, atol=1e-5)
    assert not config_of(repo, "cls").model_warmup and not (repo / "cls" / WARMUP_FOLDER).exists()  # the ensemble


def test_segmentation_postprocess_gets_the_logits_and_the_image_size(beit_segmentation_artifact, tmp_path):
    repo = write_repository(beit_segmentation_artifact, tmp_path / "repo",
                            options=TritonRepositoryOptions(name="seg", model_backend="python"))
    size = read_warmup(repo, "seg_postprocess", "original_size", np.int32)
    assert size.tolist() == [[149, 224]]
    logits = read_warmup(repo, "seg_postprocess", "logits", np.float32)
    with Segmenter(beit_segmentation_artifact, backend="onnxruntime", fused_postprocess=False) as segmenter:
        want = segmenter.run(segmenter.pixel_feeds([load_image(warmup_image())]))["logits"]
    np.testing.assert_allclose(logits, want, atol=1e-5)


def test_masked_image_modeling_engine_gets_pixels_and_a_zero_mask(beit_mim_artifact, tmp_path):
    repo = write_repository(beit_mim_artifact, tmp_path / "repo", options=TritonRepositoryOptions(name="mim"))
    assert sorted(path.name for path in repo.iterdir() if path.is_dir()) == ["mim_engine", "mim_preprocess"]
    mask = config_of(repo, "mim_engine").model_warmup[0].inputs["bool_masked_pos"]
    assert mask.zero_data and model_config_pb2.DataType.Name(mask.data_type) == "TYPE_BOOL"
    assert sorted(path.name for path in (repo / "mim_engine" / WARMUP_FOLDER).iterdir()) == ["pixel_values"]


@pytest.mark.parametrize("through", ["api", "cli"])
def test_warmup_off_writes_no_samples(beit_classifier_artifact, tmp_path, through):
    repo = tmp_path / "repo"
    if through == "api":
        write_repository(beit_classifier_artifact, repo, options=TritonRepositoryOptions(name="cls", warmup=False))
    else:
        assert beit_export(["triton", str(beit_classifier_artifact), "--output", str(repo), "--name", "cls",
                            "--no-warmup"]) == 0
    for model in ("cls", "cls_preprocess", "cls_engine", "cls_postprocess"):
        assert not config_of(repo, model).model_warmup and not (repo / model / WARMUP_FOLDER).exists()


def test_dynamic_resolution_samples_have_the_images_own_dims(beit_dynamic_classifier_artifact, tmp_path):
    repo = write_repository(beit_dynamic_classifier_artifact, tmp_path / "repo",
                            options=TritonRepositoryOptions(name="dyn", model_backend="python"))
    assert list(config_of(repo, "dyn_engine").input[0].dims) == [3, -1, -1]
    manifest = load_manifest(beit_dynamic_classifier_artifact)
    pixels = Preprocessor.from_manifest(manifest)(load_image(warmup_image()))[None]
    np.testing.assert_array_equal(read_warmup(repo, "dyn_engine", "pixel_values", np.float32), pixels)
