"""The parity gate passes on exported graphs and fails, readably, on a deliberately broken one."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from transformers import BeitImageProcessorPil

from beit_export.errors import ParityError
from beit_export.parity import (
    build_cases,
    check_parity,
    evaluate,
    format_report,
    hf_preprocess,
    parity_resolutions,
    sample_photos,
)
from tests.conftest import BEIT_PROCESSOR_CONFIG, tiny_checkpoint


def _break_weight(src, dst, *, name_part: str, delta: float) -> str:
    model = onnx.load(str(src))
    candidates = [t for t in model.graph.initializer if name_part in t.name and t.data_type == onnx.TensorProto.FLOAT]
    target = max(candidates, key=lambda t: np.prod(t.dims))
    broken = numpy_helper.to_array(target).copy()
    broken.flat[0] += delta
    target.CopyFrom(numpy_helper.from_array(broken, target.name))
    onnx.save(model, str(dst))
    return target.name


def test_gate_passes_with_figures(beit_classifier_artifact):
    checkpoint = tiny_checkpoint("beit", "image-classification")
    report = check_parity(beit_classifier_artifact / "model.onnx", checkpoint)
    assert report["passed"] and report["failures"] == []
    logits = report["outputs"]["logits"]
    assert logits["max_abs"] <= 1e-4 and logits["rel_l2"] <= 1e-4 and logits["top1_agreement"] == 1.0
    assert report["tolerances"]["logits"]["max_abs"] == 1e-4
    names = [case["name"] for case in report["cases"]]
    assert any(name.startswith("photos") for name in names) and any(" b2 " in name for name in names)
    assert "PASSED" in format_report(report)


def test_gate_fails_on_broken_graph(beit_classifier_artifact, tmp_path):
    checkpoint = tiny_checkpoint("beit", "image-classification")
    broken = tmp_path / "broken.onnx"
    name = _break_weight(beit_classifier_artifact / "model.onnx", broken, name_part="", delta=0.5)
    with pytest.raises(ParityError) as error:
        check_parity(broken, checkpoint)
    report = error.value.report
    assert not report["passed"] and report["failures"], name
    message = str(error.value)
    assert "FAILED" in message and "logits" in message and "no artifact was written" in message
    assert "max_abs" in message


def test_gate_catches_a_small_head_error(beit_classifier_artifact, tmp_path):
    checkpoint = tiny_checkpoint("beit", "image-classification")
    broken = tmp_path / "broken.onnx"
    _break_weight(beit_classifier_artifact / "model.onnx", broken, name_part="classifier", delta=1e-2)
    with pytest.raises(ParityError, match="max_abs"):
        check_parity(broken, checkpoint)


def test_resolutions_for_dynamic_graphs():
    config = tiny_checkpoint("beit", "image-classification").config
    assert {(h, w) for _, h, w in parity_resolutions(config, dynamic_resolution=False)} == {(32, 32)}
    sizes = {(h, w) for _, h, w in parity_resolutions(config, dynamic_resolution=True)}
    assert len(sizes) >= 3 and any(h != w for h, w in sizes)
    assert all(h % 8 == 0 and w % 8 == 0 for h, w in sizes)


def test_masked_image_modeling_cases(beit_mim_artifact):
    checkpoint = tiny_checkpoint("beit", "masked-image-modeling", shared_bias=True)
    cases = build_cases(checkpoint, photos=True)
    for case in cases:
        batch = case.feeds["pixel_values"].shape[0]
        assert case.feeds["bool_masked_pos"].shape == (batch, 16) and case.feeds["bool_masked_pos"].dtype == np.bool_
    report = evaluate(beit_mim_artifact / "model.onnx", cases, task="masked-image-modeling")
    assert report["passed"] and report["outputs"]["logits"]["top1_agreement"] == 1.0


def test_photos_go_through_the_hf_pil_processor():
    photos = sample_photos()
    assert len(photos) >= 5
    assert all(image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3 for _, image in photos)
    checkpoint = tiny_checkpoint("beit", "image-classification")
    ours = hf_preprocess([photos[1][1]], checkpoint.preprocessing, model_type="beit").numpy()
    processor_config = {k: v for k, v in BEIT_PROCESSOR_CONFIG.items() if k != "image_processor_type"}
    processor = BeitImageProcessorPil.from_dict(processor_config)
    theirs = processor(images=[photos[1][1]], return_tensors="np")["pixel_values"]
    assert ours.shape == (1, 3, 32, 32) and ours.dtype == np.float32
    np.testing.assert_array_equal(ours, theirs.astype(np.float32))


def test_deit_recipe_reproduces_the_deit_processor():
    from transformers import DeiTImageProcessorPil

    from beit_export.checkpoint import load_preset, recipe_from_processor_config
    from beit_export.checkpoint.loading import _config_from_dict

    preset = load_preset("facebook/deit-base-patch16-224")
    model_config = _config_from_dict(preset.config, where="p")
    recipe = recipe_from_processor_config(preset.preprocessor_config, config=model_config)
    image = sample_photos(["chelsea"])[0][1]
    ours = hf_preprocess([image], recipe, model_type="vit").numpy()
    processor = DeiTImageProcessorPil.from_dict({k: v for k, v in preset.preprocessor_config.items()
                                                 if k != "feature_extractor_type"})
    theirs = processor(images=[image], return_tensors="np")["pixel_values"]
    assert ours.shape == (1, 3, 224, 224)
    np.testing.assert_array_equal(ours, theirs.astype(np.float32))
