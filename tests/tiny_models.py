"""Tiny BEiT/ViT/DeiT checkpoints built in-process: same code paths as the real ones, seconds to export.

Every factory returns an eval-mode model whose zero-initialised parameters (relative position
bias tables, CLS token, position embeddings) are drawn at random, so parity tests can fail.
"""

from __future__ import annotations

import torch
import transformers
from transformers import BeitConfig, DeiTConfig, ViTConfig

from beit_export.checkpoint import randomize_zero_initialised
from beit_runtime.tasks import task as registry_task

TINY_COMMON = {
    "hidden_size": 32,
    "num_hidden_layers": 4,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "image_size": 32,
    "patch_size": 8,
}
TINY_LABELS = {i: f"class_{i}" for i in range(10)}


def tiny_beit_config(*, shared_bias: bool = False, absolute_positions: bool = False, **overrides) -> BeitConfig:
    values = dict(
        TINY_COMMON,
        use_relative_position_bias=not shared_bias,
        use_shared_relative_position_bias=shared_bias,
        use_absolute_position_embeddings=absolute_positions,
        use_mask_token=True,
        layer_scale_init_value=0.1,
        use_mean_pooling=True,
        id2label=TINY_LABELS,
        label2id={v: k for k, v in TINY_LABELS.items()},
        vocab_size=64,
        out_indices=[1, 2, 3, 4],
        pool_scales=[1, 2, 3, 6],
        channels=16,
        auxiliary_channels=16,
        use_auxiliary_head=True,
    )
    values.update(overrides)
    return BeitConfig(**values)


def tiny_vit_config(**overrides) -> ViTConfig:
    values = dict(TINY_COMMON, id2label=TINY_LABELS, label2id={v: k for k, v in TINY_LABELS.items()})
    values.update(overrides)
    return ViTConfig(**values)


def tiny_deit_config(**overrides) -> DeiTConfig:
    values = dict(TINY_COMMON, id2label=TINY_LABELS, label2id={v: k for k, v in TINY_LABELS.items()})
    values.update(overrides)
    return DeiTConfig(**values)


def tiny_model(model_type: str, task: str, *, seed: int = 0, class_name: str | None = None,
               **config_overrides) -> torch.nn.Module:
    """A tiny random model of ``model_type`` ("beit", "vit" or "deit") for ``task``, in eval mode; ``class_name``:
    another transformers class carrying the task (``Task.more_hf_classes``) than the registry's default."""
    configs = {"beit": tiny_beit_config, "vit": tiny_vit_config, "deit": tiny_deit_config}
    class_name = class_name or registry_task(task).hf_classes.get(model_type)
    if model_type not in configs or class_name is None:
        raise ValueError(f"no tiny {model_type!r} model for {task!r}")
    torch.manual_seed(seed)
    model = getattr(transformers, class_name)(configs[model_type](**config_overrides))
    model = randomize_zero_initialised(model, seed=seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("distillation_token"):  # DeiT's, zero after transformers' init
                parameter.normal_(0, 0.02, generator=torch.Generator().manual_seed(seed + 1))
    return model.eval()
