"""Architecture presets: the hub checkpoints' config and preprocessing values, offline."""

from __future__ import annotations

import pytest
import torch
import transformers

from beit_export.checkpoint import load_preset, preset_names, recipe_from_processor_config
from beit_export.checkpoint.loading import SUPPORTED_ARCHITECTURES, _config_from_dict
from beit_export.errors import ModelLoadError

REQUIRED = (
    "microsoft/beit-base-patch16-224",
    "microsoft/beit-base-patch16-224-pt22k",
    "microsoft/beit-large-patch16-224",
    "microsoft/beit-base-patch16-384",
    "microsoft/beit-base-finetuned-ade-640-640",
    "microsoft/beit-large-finetuned-ade-640-640",
    "google/vit-base-patch16-224",
    "facebook/deit-base-patch16-224",
    "facebook/dino-vitb16",
    # named by the source documents (shared/reference/seeds): the pt22k model card and the ViT doc page's DeiT list
    "microsoft/beit-large-patch16-224-pt22k",
    "facebook/deit-tiny-patch16-224",
    "facebook/deit-small-patch16-224",
    "facebook/deit-base-patch16-384",
)
# Parameter counts in millions (timm / paper figures for the encoders plus the heads).
PARAMETERS_M = {
    "microsoft/beit-base-patch16-224": 86.5,
    "microsoft/beit-large-patch16-224": 304.4,
    "google/vit-base-patch16-224": 86.6,
    "facebook/deit-base-patch16-224": 86.6,
    "facebook/deit-tiny-patch16-224": 5.7,
    "facebook/deit-small-patch16-224": 22.1,
    "facebook/deit-base-patch16-384": 86.9,
}


def _config(model_id):
    return _config_from_dict(load_preset(model_id).config, where=model_id)


def _recipe(model_id):
    preset = load_preset(model_id)
    return recipe_from_processor_config(preset.preprocessor_config, config=_config(model_id))


def test_every_required_checkpoint_has_a_preset_with_notes():
    assert set(REQUIRED) <= set(preset_names())
    for model_id in REQUIRED:
        preset = load_preset(model_id)
        assert preset.notes.strip(), model_id
        assert preset.config["architectures"][0] in SUPPORTED_ARCHITECTURES


@pytest.mark.parametrize("model_id", REQUIRED)
def test_preset_builds_its_architecture(model_id):
    config = _config(model_id)
    with torch.device("meta"):
        model = getattr(transformers, config.architectures[0])(config)
    millions = sum(p.numel() for p in model.parameters()) / 1e6
    if model_id in PARAMETERS_M:
        assert millions == pytest.approx(PARAMETERS_M[model_id], rel=0.01)


def test_beit_base_224_values():
    config = _config("microsoft/beit-base-patch16-224")
    assert config.architectures == ["BeitForImageClassification"]
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (768, 12, 12)
    assert config.use_relative_position_bias and not config.use_shared_relative_position_bias
    assert config.use_mean_pooling and config.layer_scale_init_value == 0.1
    assert not config.use_absolute_position_embeddings
    assert config.layer_norm_eps == 1e-12 and config.image_size == 224 and config.patch_size == 16
    assert len(config.id2label) == 1000
    recipe = _recipe("microsoft/beit-base-patch16-224")
    assert recipe["size"] == {"height": 224, "width": 224}
    assert recipe["resample"] == "bilinear" and recipe["do_center_crop"] is False and recipe["crop_size"] is None
    assert recipe["image_mean"] == [0.5] * 3 and recipe["image_std"] == [0.5] * 3
    assert recipe["rescale_factor"] == pytest.approx(1 / 255) and recipe["channel_order"] == "rgb"


def test_pt22k_is_masked_image_modeling_with_shared_bias():
    config = _config("microsoft/beit-base-patch16-224-pt22k")
    assert config.architectures == ["BeitForMaskedImageModeling"]
    assert config.use_shared_relative_position_bias and not config.use_relative_position_bias
    assert config.use_mask_token and config.vocab_size == 8192


def test_ade_presets_are_segmentation_at_640():
    for model_id, out_indices in (
        ("microsoft/beit-base-finetuned-ade-640-640", [3, 5, 7, 11]),
        ("microsoft/beit-large-finetuned-ade-640-640", [7, 11, 15, 23]),
    ):
        config = _config(model_id)
        assert config.architectures == ["BeitForSemanticSegmentation"]
        assert config.image_size == 640 and config.num_labels == 150
        assert list(config.out_indices) == out_indices
        assert config.use_auxiliary_head and list(config.pool_scales) == [1, 2, 3, 6]
        assert config.id2label[0] == "wall" and config.id2label[149] == "flag"
        recipe = _recipe(model_id)
        assert recipe["size"] == {"height": 640, "width": 640} and not recipe["do_center_crop"]
        assert recipe["do_reduce_labels"] is True


def test_large_and_384_shapes():
    large = _config("microsoft/beit-large-patch16-224")
    assert (large.hidden_size, large.num_hidden_layers, large.num_attention_heads, large.intermediate_size) == (
        1024, 24, 16, 4096)
    assert _config("microsoft/beit-base-patch16-384").image_size == 384
    assert _recipe("microsoft/beit-base-patch16-384")["size"] == {"height": 384, "width": 384}


def test_vit_deit_dino_preprocessing():
    vit = _recipe("google/vit-base-patch16-224")
    assert vit["resample"] == "bilinear" and not vit["do_center_crop"] and vit["image_mean"] == [0.5] * 3
    deit = _recipe("facebook/deit-base-patch16-224")
    assert deit["size"] == {"height": 256, "width": 256} and deit["resample"] == "bicubic"
    assert deit["do_center_crop"] and deit["crop_size"] == {"height": 224, "width": 224}
    assert deit["image_mean"] == [0.485, 0.456, 0.406] and deit["image_std"] == [0.229, 0.224, 0.225]
    assert _config("facebook/deit-base-patch16-224").model_type == "vit"
    dino = _config("facebook/dino-vitb16")
    assert dino.architectures == ["ViTModel"]
    assert _recipe("facebook/dino-vitb16")["image_mean"] == [0.485, 0.456, 0.406]


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ModelLoadError) as error:
        load_preset("microsoft/beit-huge-patch14-999")
    message = str(error.value)
    assert "microsoft/beit-base-patch16-224" in message and "facebook/dino-vitb16" in message


def test_model_card_and_deit_values():
    large = _config("microsoft/beit-large-patch16-224-pt22k")
    assert large.architectures == ["BeitForMaskedImageModeling"] and large.vocab_size == 8192
    assert large.use_shared_relative_position_bias and not large.use_relative_position_bias and large.use_mask_token
    assert (large.hidden_size, large.num_hidden_layers, large.num_attention_heads) == (1024, 24, 16)
    recipe = _recipe("microsoft/beit-large-patch16-224-pt22k")
    assert recipe["size"] == {"height": 224, "width": 224} and recipe["image_mean"] == [0.5] * 3
    for model_id, hidden, crop, resize in (("facebook/deit-tiny-patch16-224", 192, 224, 256),
                                           ("facebook/deit-small-patch16-224", 384, 224, 256),
                                           ("facebook/deit-base-patch16-384", 768, 384, 438)):
        config, recipe = _config(model_id), _recipe(model_id)
        assert config.model_type == "vit" and config.hidden_size == hidden and config.image_size == crop
        assert recipe["size"] == {"height": resize, "width": resize}
        assert recipe["crop_size"] == {"height": crop, "width": crop}
        assert recipe["resample"] == "bicubic" and recipe["image_mean"] == [0.485, 0.456, 0.406]
