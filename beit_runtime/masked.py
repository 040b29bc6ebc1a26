"""``MaskedImageModeler``: images + patch masks -> predicted visual-token ids (BEiT pre-training head)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InputError
from .model_base import ArtifactModel

MASK_INPUT = "bool_masked_pos"


class MaskedImageModeler(ArtifactModel):
    """Run a masked-image-modeling artifact (``BeitForMaskedImageModeling``).

    ``masks`` marks the patches to hide, row-major over the patch grid: a boolean array of
    ``num_patches`` for one image, (N, num_patches) or a list of such arrays for a list of images.
    ``predict`` returns the arg-max visual-token id of every patch, (num_patches,) per image;
    ``logits`` returns the raw scores (..., num_patches, vocab_size).
    """

    task = "masked-image-modeling"

    @property
    def num_patches(self) -> int:
        spec = self.manifest.input
        return (spec.height // spec.patch_size) * (spec.width // spec.patch_size)

    def _masks(self, masks: Any, count: int, single: bool) -> np.ndarray:
        array = np.asarray(masks)
        if array.dtype != np.bool_:
            raise InputError(f"masks must be boolean (True = masked patch), got dtype {array.dtype}")
        expected = (self.num_patches,) if single else (count, self.num_patches)
        if array.shape != expected:
            raise InputError(
                f"masks have shape {array.shape}, expected {expected}: one boolean per patch "
                f"({self.num_patches} patches, row-major) for each image"
            )
        return np.ascontiguousarray(array.reshape(count, self.num_patches))

    def logits(self, images: Any, masks: Any, *, channel_order: str = "rgb") -> np.ndarray:
        decoded, single = self.load_images(images, channel_order=channel_order)
        feeds = {MASK_INPUT: self._masks(masks, len(decoded), single)}
        logits = self.run_images(decoded, extra=feeds)["logits"].astype(np.float32, copy=False)
        return logits[0] if single else logits

    def predict(self, images: Any, masks: Any, *, channel_order: str = "rgb") -> np.ndarray:
        """Predicted visual-token ids: (num_patches,) for one image, (N, num_patches) for a list."""
        ids: np.ndarray = self.logits(images, masks, channel_order=channel_order).argmax(axis=-1)
        return ids

    __call__ = predict
