"""What the two demo trainers share: the image processor they train through, the schedule, the saving."""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image
from transformers import BeitConfig
from transformers.models.beit.image_processing_pil_beit import BeitImageProcessorPil

MEAN = STD = (0.5, 0.5, 0.5)


def square_bicubic_processor(image_size: int) -> BeitImageProcessorPil:
    """BeitImageProcessor: resize to image_size x image_size bicubic, no crop, rescale, mean = std = 0.5."""
    size = {"height": image_size, "width": image_size}
    return BeitImageProcessorPil(
        size=size, crop_size=size, resample=Image.Resampling.BICUBIC, do_center_crop=False,
        do_rescale=True, do_normalize=True, image_mean=list(MEAN), image_std=list(STD), do_reduce_labels=False,
    )


def small_beit_config(*, class_names: tuple[str, ...] | list[str], image_size: int, patch_size: int, hidden_size: int,
                      num_layers: int = 4, layer_scale: float, drop_path_rate: float, **head_options) -> BeitConfig:
    """What both demo models are: a small BEiT with 4 heads, a 4x MLP, a relative position bias per layer and
    no absolute position embeddings, mean pooling; ``head_options`` add the task head's settings."""
    id2label = dict(enumerate(class_names))
    return BeitConfig(
        image_size=image_size,
        patch_size=patch_size,
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        intermediate_size=4 * hidden_size,
        use_relative_position_bias=True,
        use_shared_relative_position_bias=False,
        use_absolute_position_embeddings=False,
        use_mean_pooling=True,
        layer_scale_init_value=layer_scale,
        drop_path_rate=drop_path_rate,
        id2label=id2label,
        label2id={name: index for index, name in id2label.items()},
        **head_options,
    )


def cosine_learning_rate(step: int, *, steps: int, peak: float, warmup: int, floor: float) -> float:
    """Linear warm-up, then cosine decay from ``peak`` to ``floor * peak``."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(steps - warmup, 1)
    return peak * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def save_checkpoint(model, output: Path) -> Path:
    """config.json + model.safetensors + preprocessor_config.json (the processor the model was trained through)."""
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output, safe_serialization=True)
    square_bicubic_processor(model.config.image_size).save_pretrained(output)
    return output
