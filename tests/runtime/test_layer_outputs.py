"""hidden_states / attentions / attention_maps on FeatureExtractor and Classifier (issue 18), on real photos,
and the attention-map pictures of ``beit-run --attention-maps``."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
from PIL import Image

from beit_runtime import Classifier, FeatureExtractor
from beit_runtime.attention import cls_attention_maps
from beit_runtime.cli import main as beit_run
from beit_runtime.errors import InputError, OutputUnavailableError

PHOTOS = ("chelsea", "astronaut", "coffee")


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    return [np.ascontiguousarray(getattr(skimage.data, name)()) for name in PHOTOS]


@pytest.fixture(scope="module")
def hidden_states_backbone(tmp_path_factory):
    """A tiny DINO-style ViT backbone (no pooler) exported with --outputs hidden_states only."""
    from beit_export.options import ExportOptions
    from beit_export.pipeline import export_artifact
    from tests.conftest import tiny_checkpoint

    checkpoint = tiny_checkpoint("vit", "backbone")
    return export_artifact(checkpoint, output=tmp_path_factory.mktemp("artifacts") / "vit-hidden",
                           options=ExportOptions(outputs="hidden_states", photos=False))


def test_classifier_outputs_on_photos(beit_layer_outputs_artifact, photos):
    with Classifier(beit_layer_outputs_artifact, batch_size=2) as classifier:
        assert classifier.optional_outputs == ("hidden_states", "attentions")
        assert classifier.attention_layers == (1, 3) and classifier.num_layers == 4
        hidden, attentions = classifier.hidden_states(photos), classifier.attentions(photos)
        assert hidden.shape == (3, 5, 17, 32) and hidden.dtype == np.float32
        assert attentions.shape == (3, 2, 2, 17, 17)
        np.testing.assert_allclose(attentions.sum(axis=-1), 1.0, atol=1e-5)  # softmax rows
        np.testing.assert_array_equal(classifier.hidden_states(photos[0]), hidden[0])
        assert classifier(photos[0], top_k=1)  # the task's own call is unchanged
        assert classifier.logits(photos).shape == (3, 10)


def test_attention_maps_at_each_images_own_size(beit_layer_outputs_artifact, photos):
    with Classifier(beit_layer_outputs_artifact) as classifier:
        maps = classifier.attention_maps(photos, layer=-1)
        attentions = classifier.attentions(photos)
        for image, image_maps, weights in zip(photos, maps, attentions, strict=True):
            assert image_maps.shape == (2, *image.shape[:2])
            expected = cls_attention_maps(weights[1], preprocessor=classifier.preprocessor,
                                          image_size=image.shape[:2], patch_size=8)
            np.testing.assert_array_equal(image_maps, expected)
            # 32x32 resize, no crop: the photo's corners lie in the first and the last patch
            assert image_maps[0, 0, 0] == weights[1, 0, 0, 1] and image_maps[1, -1, -1] == weights[1, 1, 0, -1]
        single = classifier.attention_maps(photos[0], layer=1)
        assert single.shape == (2, *photos[0].shape[:2])


def test_missing_outputs_and_layers_name_the_export_flag(beit_classifier_artifact, beit_layer_outputs_artifact,
                                                         hidden_states_backbone, photos):
    with Classifier(beit_classifier_artifact) as classifier:
        with pytest.raises(OutputUnavailableError, match="--outputs hidden_states"):
            classifier.hidden_states(photos[0])
        with pytest.raises(OutputUnavailableError, match="--outputs attentions"):
            classifier.attention_maps(photos[0])
    with Classifier(beit_layer_outputs_artifact) as classifier:
        with pytest.raises(OutputUnavailableError, match=r"layers \[1, 3\], not of layer 0.*--attention-layers 0"):
            classifier.attention_maps(photos[0], layer=0)
        for not_in_the_model in (4, -5):  # a bad argument (HTTP 400 in a service), not an artifact's fault
            with pytest.raises(InputError, match=r"is not an encoder layer: the model has 4 \(0 to 3, or -4 to -1"):
                classifier.attention_maps(photos[0], layer=not_in_the_model)
        for not_a_layer in (1.5, "1", True):
            with pytest.raises(InputError, match=f"layer must be a whole number.*got {not_a_layer!r}"):
                classifier.attention_maps(photos[0], layer=not_a_layer)
    with FeatureExtractor(hidden_states_backbone) as extractor:
        assert extractor.hidden_states(photos[:2]).shape == (2, 5, 17, 32)
        with pytest.raises(OutputUnavailableError, match="--outputs attentions"):
            extractor.attentions(photos[0])


def test_beit_run_writes_readable_attention_pictures(beit_layer_outputs_artifact, beit_segmentation_artifact,
                                                      photos, tmp_path, capsys):
    path = tmp_path / "cat.png"
    Image.fromarray(photos[0]).save(path)
    out = tmp_path / "maps"
    assert beit_run([str(beit_layer_outputs_artifact), str(path), "--attention-maps", str(out), "--top-k", "1"]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == ["cat.head0.png", "cat.head1.png", "cat.mean.png"]
    picture = np.asarray(Image.open(out / "cat.mean.png"))
    height, width = photos[0].shape[:2]
    assert picture.shape[0] > height and picture.shape[1] > width + 40  # title above, colour scale beside
    scale = picture[-height:, width + 6 : width + 22]  # the bar: viridis from yellow (top) to violet (bottom)
    assert scale[2, 8, 0] > 200 and scale[-3, 8, 2] > 60 and scale[-3, 8, 1] < 40
    assert "saved" in capsys.readouterr().out
    assert beit_run([str(beit_segmentation_artifact), str(path), "--attention-maps", str(out)]) == 2
    captured = capsys.readouterr()
    assert "--outputs attentions" in captured.err and captured.out == ""


@pytest.mark.parametrize("call", ["attentions", "classify", "logits"])
def test_the_memory_guard_counts_the_peak_and_covers_every_call(own_size_classifier_artifact, monkeypatch, call):
    """A call holds about three copies of the attention weights at its peak (the graph's per-layer tensors, the
    stacked output, onnxruntime's copy into numpy: layer_outputs.PEAK_COPIES). With memory for two copies over
    the guard's share, the call is refused before it runs, classify()/logits() too (the graph computes them)."""
    import beit_runtime.attention as attention
    from beit_runtime.errors import OutputTooLargeError

    image = np.full((8, 400, 3), 100, np.uint8)  # do_resize false: 1x50 patches, 51 tokens
    one_copy = 4 * 2 * 51 * 51 * 4  # 4 layers, 2 heads, float32
    with Classifier(own_size_classifier_artifact) as classifier:
        assert classifier.attentions(image).shape == (4, 2, 51, 51)
        monkeypatch.setattr(attention, "available_memory_bytes", lambda: int(2 * one_copy / attention.MEMORY_SHARE))
        with pytest.raises(OutputTooLargeError, match="51 tokens"):
            getattr(classifier, call)(image)


@pytest.fixture(scope="module")
def deit_hidden_states_classifier(tmp_path_factory):
    """A tiny DeiT classifier (CLS and distillation tokens) exported --dynamic-resolution --outputs hidden_states:
    the tokens axis of its outputs is symbolic, so the memory guard counts the tokens itself."""
    from beit_export.checkpoint import checkpoint_from_model, recipe_from_processor_config
    from beit_export.options import ExportOptions
    from beit_export.pipeline import export_artifact
    from tests.conftest import VIT_PROCESSOR_CONFIG
    from tests.tiny_models import tiny_model

    model = tiny_model("deit", "image-classification")
    recipe = recipe_from_processor_config(VIT_PROCESSOR_CONFIG, config=model.config)
    checkpoint = checkpoint_from_model(model, preprocessing=recipe)
    folder = export_artifact(checkpoint, output=tmp_path_factory.mktemp("artifacts") / "deit-hidden",
                             options=ExportOptions(outputs="hidden_states", dynamic_resolution=True, photos=False))
    return model, folder


@pytest.mark.parametrize("images", [1, 2])
def test_the_memory_guard_counts_deits_two_special_tokens(deit_hidden_states_classifier, photos, monkeypatch,
                                                          images):
    """32x32 crops of 8x8 patches: 16 patches + CLS + distillation = 18 tokens. With memory between the estimates
    for 17 and 18 tokens, the call is refused: per batch (one image: 3.5 copies) or for the whole result (two
    images one at a time: 2 x 2 copies, more than one batch's 3.5)."""
    import torch
    from transformers import DeiTImageProcessorPil

    import beit_runtime.attention as attention
    from beit_runtime.errors import OutputTooLargeError
    from tests.conftest import VIT_PROCESSOR_CONFIG

    model, folder = deit_hidden_states_classifier
    with Classifier(folder, batch_size=1) as classifier:
        hidden = classifier.hidden_states(photos[:1])
        assert hidden.shape == (1, 5, 18, 32)  # the embeddings and 4 layers
        processor = DeiTImageProcessorPil(**{k: v for k, v in VIT_PROCESSOR_CONFIG.items()
                                             if k != "image_processor_type"})
        pixels = processor(images=photos[:1], return_tensors="pt", input_data_format="channels_last")["pixel_values"]
        with torch.no_grad():
            expected = torch.stack(model(pixel_values=pixels, output_hidden_states=True).hidden_states, dim=1)
        np.testing.assert_allclose(hidden, expected.numpy(), atol=1e-5, rtol=0)
        copies = 3.5 if images == 1 else 2 * images
        one_token = hidden[0, :, :1].nbytes  # float32 bytes per token of one image's hidden_states
        between = copies * one_token * 17.5
        monkeypatch.setattr(attention, "available_memory_bytes", lambda: int(between / attention.MEMORY_SHARE))
        with pytest.raises(OutputTooLargeError, match="18 tokens" if images == 1 else "2 image"):
            classifier.hidden_states(photos[:images])
