"""uint8 batches for graphs that normalise on the device: Pillow-exact resize/crop, no normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from beit_runtime.device_input import uint8_batch
from beit_runtime.errors import ImageFormatError, InputError
from beit_runtime.preprocess import Preprocessor

RECIPE = {"do_resize": True, "size": {"height": 40, "width": 40}, "resample": "bicubic", "do_rescale": True,
          "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": [0.5] * 3, "image_std": [0.5] * 3,
          "do_center_crop": True, "crop_size": {"height": 32, "width": 24}}


def _images() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, shape, dtype=np.uint8) for shape in ((50, 70, 3), (33, 33, 3), (90, 20, 3))]


def test_layouts_hold_the_resized_pixels():
    preprocessor = Preprocessor.from_manifest(RECIPE)
    images = _images()
    nhwc = uint8_batch(preprocessor, images)
    assert nhwc.dtype == np.uint8 and nhwc.shape == (3, 32, 24, 3)
    for index, image in enumerate(images):
        np.testing.assert_array_equal(nhwc[index], preprocessor.pixels(image))
    nchw = uint8_batch(preprocessor, images, layout="nchw")
    assert nchw.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(nchw, nhwc.transpose(0, 3, 1, 2))


def test_bad_requests():
    preprocessor = Preprocessor.from_manifest(RECIPE)
    with pytest.raises(InputError, match="layout must be one of"):
        uint8_batch(preprocessor, _images(), layout="hwc")
    with pytest.raises(ImageFormatError, match="no images"):
        uint8_batch(preprocessor, [])
    free = Preprocessor.from_manifest({**RECIPE, "do_resize": False, "do_center_crop": False})
    with pytest.raises(ImageFormatError, match="different sizes"):
        uint8_batch(free, _images())


@pytest.fixture(scope="module")
def gpu_artifact(tmp_path_factory):
    from beit_export.options import ExportOptions
    from beit_export.pipeline import export_artifact
    from tests.conftest import tiny_checkpoint

    options = ExportOptions(fp16=True, fused_attention=True, uint8_input=True, photos=False)
    return export_artifact(tiny_checkpoint("beit", "image-classification"),
                           output=tmp_path_factory.mktemp("gpu-runtime") / "artifact", options=options)


def _photos() -> list[np.ndarray]:
    from beit_export.parity import sample_photos

    return [image for _, image in sample_photos()]


def test_task_class_runs_the_fused_and_uint8_graphs(gpu_artifact):
    from beit_runtime import Classifier

    cpu = ["CPUExecutionProvider"]
    with Classifier(gpu_artifact, precision="fp16", providers=cpu) as plain, \
            Classifier(gpu_artifact, precision="fp16", providers=cpu, fused_attention=True) as fused, \
            Classifier(gpu_artifact, precision="fp16", providers=cpu, fused_attention=True,
                       device_normalisation=True) as on_device:
        assert fused.engine.path.name == "model.fp16-fused.onnx"
        assert on_device.engine.path.name == "model.fp16-fused.uint8.onnx"
        assert [s.name for s in on_device.engine.inputs] == ["pixels"]
        expected = fused.run_images(_photos())["logits"]
        np.testing.assert_array_equal(on_device.run_images(_photos())["logits"], expected)  # same table
        np.testing.assert_allclose(expected, plain.run_images(_photos())["logits"], atol=2e-3)


def test_run_options_that_cannot_be_honoured(gpu_artifact, beit_classifier_artifact, beit_segmentation_artifact):
    from beit_runtime import Classifier, RunOptions, Segmenter

    with pytest.raises(InputError, match="pass precision='fp16'"):
        Classifier(gpu_artifact, fused_attention=True)
    with pytest.raises(InputError, match="export it with --uint8-input"):
        Classifier(beit_classifier_artifact, device_normalisation=True)
    with pytest.raises(InputError, match="not available for semantic-segmentation"):
        Segmenter(beit_segmentation_artifact, device_normalisation=True, backend="onnxruntime")
    with pytest.raises(InputError, match="backend='onnxruntime'"):
        Classifier(gpu_artifact, precision="fp16", fused_attention=True, backend="openvino")
    with pytest.raises(InputError, match="needs the session to run on CUDAExecutionProvider"):
        Classifier(gpu_artifact, providers=["CPUExecutionProvider"], cuda_graph_batch_sizes=(1, 8))
    with pytest.raises(InputError, match="positive integer"):
        RunOptions(cuda_graph_batch_sizes=(0,))
