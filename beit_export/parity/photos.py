"""Real photos for parity checks, preprocessed by the Hugging Face image processor they are compared through.

Where the recipe keeps each image's size (``keeps_image_size``), a photo is checked at its own size only
up to a token limit (``beit_export.parity.memory.photo_token_limit``): ``scaled_to_tokens`` scales a larger
one down first, aspect ratio kept, to whole patches.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from beit_runtime.preprocess import pillow_resize

from ..checkpoint import processor_from_recipe

PHOTO_NAMES = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry")


def sample_photos(names: Sequence[str] = PHOTO_NAMES) -> list[tuple[str, np.ndarray]]:
    """Photos shipped with scikit-image, as (name, HxWx3 uint8 RGB) pairs; no network needed."""
    import skimage.data

    photos = []
    for name in names:
        image = np.ascontiguousarray(getattr(skimage.data, name)())
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"skimage.data.{name} is {image.dtype}{image.shape}, expected HxWx3 uint8 RGB")
        photos.append((name, image))
    return photos


def hf_preprocess(images: Sequence[np.ndarray], preprocessing: Mapping[str, Any], *, model_type: str = "beit"):
    """(N, 3, H, W) float32 torch tensor: HF's PIL processor applied to HxWx3 uint8 RGB ``images``."""
    processor = processor_from_recipe(preprocessing, model_type=model_type)
    batch = processor(images=[np.asarray(image) for image in images], return_tensors="pt",
                      input_data_format="channels_last")
    return batch["pixel_values"].float()


def keeps_image_size(preprocessing: Mapping[str, Any]) -> bool:
    """Whether the recipe's tensors take each image's own size (no resize, no centre crop)."""
    return not preprocessing["do_resize"] and not preprocessing["do_center_crop"]


def scaled_to_tokens(image: np.ndarray, *, patch_size: int, max_tokens: int) -> np.ndarray:
    """``image`` (HxWx3 uint8) scaled down, aspect ratio kept, to whole patches that make at most ``max_tokens``
    tokens with the CLS token (at least one patch); ``image`` itself when it already does."""
    rows, columns = image.shape[0] // patch_size, image.shape[1] // patch_size
    if rows * columns + 1 <= max_tokens:
        return image
    scale = math.sqrt(max(1, max_tokens - 1) / (rows * columns))
    rows, columns = max(1, int(rows * scale)), max(1, int(columns * scale))
    return pillow_resize(image, rows * patch_size, columns * patch_size, resample="bicubic")
