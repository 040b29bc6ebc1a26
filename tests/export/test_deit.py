"""DeiT checkpoints (model_type "deit": CLS and distillation tokens before the patches) against transformers:
DeiTForImageClassification, DeiTForImageClassificationWithTeacher (logits: mean of the two heads) and DeiTModel
(pooler on the CLS token), exported through the real pipeline and run with the runtime's task classes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import skimage.data
import torch
from transformers import DeiTImageProcessorPil

from beit_export.checkpoint import checkpoint_from_model, load_checkpoint, recipe_from_processor_config
from beit_export.errors import UnsupportedCheckpointError
from beit_export.options import ExportOptions, ExportOptionsError
from beit_export.pipeline import export_artifact
from beit_runtime import Classifier, FeatureExtractor
from tests.conftest import VIT_PROCESSOR_CONFIG, save_model_folder
from tests.tiny_models import tiny_model

TEACHER = "DeiTForImageClassificationWithTeacher"


def _export(model, folder, **options):
    recipe = recipe_from_processor_config(VIT_PROCESSOR_CONFIG, config=model.config)
    checkpoint = checkpoint_from_model(model, preprocessing=recipe, source_name=type(model).__name__)
    return export_artifact(checkpoint, output=folder, options=ExportOptions(**options))


def _photos() -> list[np.ndarray]:
    return [np.ascontiguousarray(skimage.data.chelsea()), np.ascontiguousarray(skimage.data.astronaut())]


@torch.no_grad()
def _reference(model, images: list[np.ndarray], processor_config: dict = VIT_PROCESSOR_CONFIG, **kwargs):
    processor = DeiTImageProcessorPil(**{k: v for k, v in processor_config.items() if k != "image_processor_type"})
    pixels = processor(images=images, return_tensors="pt", input_data_format="channels_last")["pixel_values"]
    return model(pixel_values=pixels, **kwargs)


def _manifest(folder) -> dict:
    return json.loads((folder / "manifest.json").read_text())


@pytest.mark.parametrize("class_name", ["DeiTForImageClassification", TEACHER])
def test_classifier_logits_match_transformers(class_name, tmp_path):
    model = tiny_model("deit", "image-classification", class_name=class_name)
    folder = _export(model, tmp_path / "deit")
    manifest = _manifest(folder)
    assert manifest["parity"]["fp32"]["passed"] and manifest["input"]["special_tokens"] == 2
    assert manifest["source"]["architecture"] == class_name and manifest["source"]["model_type"] == "deit"
    expected = _reference(model, _photos())
    if class_name == TEACHER:  # the mean of the CLS and distillation heads, as transformers returns it
        torch.testing.assert_close(expected.logits, (expected.cls_logits + expected.distillation_logits) / 2)
    with Classifier(folder) as classifier:
        got = classifier.logits(_photos())
    np.testing.assert_allclose(got, expected.logits.numpy(), atol=1e-5, rtol=0)


def test_teacher_at_another_resolution(tmp_path):
    """--dynamic-resolution interpolates the patch position embeddings, the 2 special tokens' kept as they are."""
    model = tiny_model("deit", "image-classification", class_name=TEACHER)
    folder = _export(model, tmp_path / "dynamic", dynamic_resolution=True)
    assert _manifest(folder)["parity"]["fp32"]["passed"]
    pixels = torch.randn(2, 3, 48, 40, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = model(pixel_values=pixels, interpolate_pos_encoding=True).logits.numpy()
    with Classifier(folder) as classifier:
        got = classifier.engine.run({"pixel_values": pixels.numpy()})["logits"]
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


def test_backbone_patch_tokens_skip_the_distillation_token(tmp_path):
    model = tiny_model("deit", "backbone")
    folder = _export(model, tmp_path / "backbone")
    expected = _reference(model, _photos()[:1])
    with FeatureExtractor(folder) as extractor:
        features = extractor.extract(_photos()[0], patch_tokens=True)
    hidden = expected.last_hidden_state[0].numpy()
    assert features.patch_tokens.shape == (16, 32)  # 4x4 patches, CLS and distillation tokens left out
    np.testing.assert_allclose(features.patch_tokens, hidden[2:], atol=1e-5, rtol=0)
    np.testing.assert_allclose(features.cls_token, hidden[0], atol=1e-5, rtol=0)
    np.testing.assert_allclose(features.pooled, expected.pooler_output[0].numpy(), atol=1e-5, rtol=0)


def test_saved_deit_folders_load(tmp_path):
    """What save_pretrained writes for each DeiT class loads as its task (it was refused as "BEiT and ViT only")."""
    cases = {"DeiTForImageClassification": "image-classification", TEACHER: "image-classification",
             "DeiTModel": "backbone"}
    for class_name, task in cases.items():
        model = tiny_model("deit", task, class_name=class_name)
        checkpoint = load_checkpoint(str(save_model_folder(model, tmp_path / class_name)))
        assert (checkpoint.task, checkpoint.source["architecture"]) == (task, class_name)
        assert checkpoint.preprocessing["crop_size"] == {"height": 32, "width": 32}


def test_attentions_are_refused_for_deit(tmp_path):
    model = tiny_model("deit", "image-classification")
    with pytest.raises(UnsupportedCheckpointError, match="CLS and a distillation token"):
        _export(model, tmp_path / "attentions", outputs=("attentions",))
    assert not (tmp_path / "attentions").exists()


def test_deit_masked_image_modeling_is_refused(tmp_path):
    from transformers import DeiTForMaskedImageModeling

    from tests.tiny_models import tiny_deit_config

    with pytest.raises(UnsupportedCheckpointError, match="DeiTForMaskedImageModeling"):
        checkpoint_from_model(DeiTForMaskedImageModeling(tiny_deit_config()).eval())


def test_random_init_draws_the_distillation_token(tmp_path):
    """`beit-export --model FOLDER --random-init` on a DeiT config: transformers zeroes the distillation token, and
    the random weights draw it as they draw the CLS token (a zero one would hide a swapped token order)."""
    from beit_export.cli import main
    from tests.tiny_models import tiny_deit_config

    folder = tmp_path / "config_only"
    tiny_deit_config(architectures=[TEACHER]).save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps(VIT_PROCESSOR_CONFIG))
    checkpoint = load_checkpoint(str(folder), random_init=True)  # what the command builds (seed 0)
    token = checkpoint.model.deit.embeddings.distillation_token.detach()
    assert float(token.abs().min()) > 0 and 0.01 < float(token.std()) < 0.04  # N(0, 0.02^2), as the CLS token
    assert main(["--model", str(folder), "--random-init", "--output", str(tmp_path / "out"), "--quiet"]) == 0
    manifest = _manifest(tmp_path / "out")
    assert manifest["parity"]["fp32"]["passed"] and manifest["source"]["random_init"]
    expected = _reference(checkpoint.model, _photos()).logits.numpy()
    with Classifier(tmp_path / "out") as classifier:
        np.testing.assert_allclose(classifier.logits(_photos()), expected, atol=1e-5, rtol=0)


def test_non_square_image_size_exports_at_that_size(tmp_path):
    """A 32x64 DeiT exports at its own size (transformers adds the stored table there) with parity; with
    --dynamic-resolution the preflight refuses it as for ViT (transformers reshapes the table to a square grid)."""
    model = tiny_model("deit", "image-classification", class_name=TEACHER, image_size=[32, 64])
    processor = {**VIT_PROCESSOR_CONFIG, "size": {"height": 40, "width": 80}, "crop_size": {"height": 32, "width": 64}}
    recipe = recipe_from_processor_config(processor, config=model.config)
    checkpoint = checkpoint_from_model(model, preprocessing=recipe, source_name=TEACHER)
    folder = export_artifact(checkpoint, output=tmp_path / "wide", options=ExportOptions())
    manifest = _manifest(folder)
    assert manifest["parity"]["fp32"]["passed"]
    assert (manifest["input"]["height"], manifest["input"]["width"]) == (32, 64)
    pixels = torch.randn(2, 3, 32, 64, generator=torch.Generator().manual_seed(5))
    with Classifier(folder) as classifier, torch.no_grad():
        got = classifier.engine.run({"pixel_values": pixels.numpy()})["logits"]
        np.testing.assert_allclose(got, model(pixel_values=pixels).logits.numpy(), atol=1e-5, rtol=0)
        photo = classifier.logits(_photos()[:1])
    expected = _reference(model, _photos()[:1], processor).logits.numpy()
    np.testing.assert_allclose(photo, expected, atol=1e-5, rtol=0)
    with pytest.raises(ExportOptionsError, match=r"--dynamic-resolution interpolates .* makes a 4x8 one"):
        export_artifact(checkpoint, output=tmp_path / "dynamic", options=ExportOptions(dynamic_resolution=True))
    assert not (tmp_path / "dynamic").exists()
