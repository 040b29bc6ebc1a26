"""uint8-input graphs: the graph's normalisation table is the runtime's, so the uint8 graph fed Pillow's
pixels gives exactly what the float graph gives when fed the CPU-normalised tensor."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from beit_export.errors import ExportError
from beit_export.gpu_graphs import uint8_drift
from beit_export.graph.uint8_input import UINT8_INPUT, add_uint8_input, normalisation_table, write_uint8_input_graph
from beit_runtime.engines import load_engine
from beit_runtime.manifest import load_manifest
from beit_runtime.preprocess import Preprocessor

DEIT_RECIPE = {"do_resize": True, "size": {"height": 40, "width": 40}, "resample": "bicubic", "do_rescale": True,
               "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": [0.485, 0.456, 0.406],
               "image_std": [0.229, 0.224, 0.225], "do_center_crop": True, "crop_size": {"height": 32, "width": 32}}


@pytest.mark.parametrize("recipe", [DEIT_RECIPE, {**DEIT_RECIPE, "do_normalize": False},
                                    {**DEIT_RECIPE, "image_mean": [0.5] * 3, "image_std": [0.5] * 3}])
def test_table_is_the_runtime_normalisation(recipe):
    image = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    table = normalisation_table(recipe)
    expected = Preprocessor.from_manifest({**recipe, "do_resize": False, "do_center_crop": False})(image)
    assert table.shape == (3, 256) and table.dtype == np.float32
    np.testing.assert_array_equal(np.stack([table[c][image[..., c]] for c in range(3)]), expected)


@pytest.mark.parametrize("layout", ["nhwc", "nchw"])
def test_uint8_graph_equals_the_float_graph_exactly(vit_classifier_artifact, tmp_path, layout):
    manifest = load_manifest(vit_classifier_artifact)
    recipe = manifest.preprocessing.to_json()
    report = write_uint8_input_graph(vit_classifier_artifact / "model.onnx", tmp_path / "u8.onnx", recipe,
                                     layout=layout)
    assert report["layout"] == layout and report["input"] == UINT8_INPUT
    with load_engine(tmp_path / "u8.onnx", providers=["CPUExecutionProvider"]) as engine:
        spec = engine.input_spec(UINT8_INPUT)
        assert spec.dtype == np.uint8 and spec.shape[1:] == ((32, 32, 3) if layout == "nhwc" else (3, 32, 32))
    assert uint8_drift(vit_classifier_artifact / "model.onnx", tmp_path / "u8.onnx", recipe, layout=layout) == 0.0


def test_photos_through_both_paths(vit_classifier_artifact, tmp_path):
    """Real photos: Pillow resize + crop on the CPU, then either the CPU table or the graph's."""
    from beit_export.parity import sample_photos
    from beit_runtime.device_input import uint8_batch

    preprocessor = Preprocessor.from_manifest(load_manifest(vit_classifier_artifact))
    write_uint8_input_graph(vit_classifier_artifact / "model.onnx", tmp_path / "u8.onnx",
                            load_manifest(vit_classifier_artifact).preprocessing.to_json())
    photos = [image for _, image in sample_photos()]
    cpu = ["CPUExecutionProvider"]
    with load_engine(vit_classifier_artifact / "model.onnx", providers=cpu) as plain, \
            load_engine(tmp_path / "u8.onnx", providers=cpu) as uint8_engine:
        expected = plain.run({"pixel_values": preprocessor.batch(photos)})["logits"]
        got = uint8_engine.run({UINT8_INPUT: uint8_batch(preprocessor, photos)})["logits"]
    np.testing.assert_array_equal(got, expected)


def test_bad_requests_are_refused(vit_classifier_artifact):
    model = onnx.load(str(vit_classifier_artifact / "model.onnx"))
    with pytest.raises(ExportError, match="layout must be one of"):
        add_uint8_input(model, DEIT_RECIPE, layout="nwhc")
    add_uint8_input(model, DEIT_RECIPE)
    with pytest.raises(ExportError, match="no 'pixel_values' input"):
        add_uint8_input(model, DEIT_RECIPE)
