"""Real photos for parity checks, preprocessed by the Hugging Face image processor they are compared through."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

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
