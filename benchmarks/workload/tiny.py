"""Tiny random BEiT checkpoints for ``--quick`` smoke runs: the real code paths in seconds."""

from __future__ import annotations

TINY_CONFIG = {
    "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 128, "image_size": 64,
    "patch_size": 16, "use_relative_position_bias": True, "use_mean_pooling": True, "layer_scale_init_value": 0.1,
    "id2label": {i: f"class_{i}" for i in range(10)}, "label2id": {f"class_{i}": i for i in range(10)},
}
TINY_PREPROCESSING = {
    "do_resize": True, "size": {"height": 64, "width": 64}, "resample": "bilinear", "do_center_crop": False,
    "crop_size": None, "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
    "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "channel_order": "rgb",
    "do_reduce_labels": False,
}
# name -> (transformers class, config overrides, path of the final classifier layer)
TINY_MODELS = {
    "tiny-beit": ("BeitForImageClassification", {}, "classifier"),
    "tiny-beit-seg": ("BeitForSemanticSegmentation",
                      {"num_hidden_layers": 4, "out_indices": [1, 2, 3, 4], "pool_scales": [1, 2, 3, 6],
                       "auxiliary_channels": 16, "use_auxiliary_head": True}, "decode_head.classifier"),
}


def tiny_checkpoint(name: str, *, seed: int = 0):
    """A LoadedCheckpoint of tiny model ``name``; its classifier gets a spread of class biases, as
    trained heads have, so that the int8 parity gate's top-1 check is not decided by coin tosses."""
    import torch
    import transformers

    from beit_export.checkpoint import checkpoint_from_model, randomize_zero_initialised

    architecture, overrides, head = TINY_MODELS[name]
    torch.manual_seed(seed)
    config = transformers.BeitConfig(**{**TINY_CONFIG, **overrides})
    network = randomize_zero_initialised(getattr(transformers, architecture)(config), seed=seed).eval()
    bias = network.get_submodule(head).bias
    with torch.no_grad():
        bias.copy_(torch.linspace(-2.0, 2.0, bias.numel()))
    return checkpoint_from_model(network, preprocessing=TINY_PREPROCESSING, source_name=name)
