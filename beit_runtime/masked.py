"""``MaskedImageModeler``: images + patch masks -> predicted visual-token ids (BEiT pre-training head)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from .errors import ImageFormatError, InputError
from .image_types import ImageLike, Images
from .model_base import ArtifactModel

MASK_INPUT = "bool_masked_pos"


class MaskedImageModeler(ArtifactModel):
    """Run a masked-image-modeling artifact (``BeitForMaskedImageModeling``).

    ``masks`` marks the patches to hide, row-major over each image's patch grid (``patch_grid(image)``; the
    same for every image unless a ``--dynamic-resolution`` artifact keeps the image's size or aspect ratio):
    a boolean array of the image's patch count for one image, (N, patches) or a list of such arrays for a
    list of images whose grids are the same. ``predict`` returns the arg-max visual-token id of every patch,
    (patches,) per image; ``logits`` returns the raw scores (..., patches, vocab_size).
    """

    task = "masked-image-modeling"

    @property
    def num_patches(self) -> int:
        """Patches of every image, when the artifact makes one tensor size; InputError when it follows the image
        (use ``patch_grid(image)``)."""
        spec = self.manifest.input
        fixed = self.preprocessor.fixed_output_size if spec.dynamic_resolution else spec.size
        if fixed is None:
            raise InputError(
                f"artifact {self.manifest.folder} runs each image at a size that follows the image (dynamic "
                "resolution, no fixed resize or crop): its patch count differs per image; use "
                "MaskedImageModeler.patch_grid(image) or default_mask(image)"
            )
        return (fixed[0] // spec.patch_size) * (fixed[1] // spec.patch_size)

    def patch_grid(self, image: ImageLike, *, channel_order: str = "rgb") -> tuple[int, int]:
        """(rows, columns) of the patch grid the graph sees for ``image`` (anything ``load_image`` takes)."""
        decoded, single = self.load_images(image, channel_order=channel_order)
        if not single:
            raise InputError("patch_grid takes one image; call it for each image of a list")
        return self._grid(decoded[0])

    def default_mask(self, image: ImageLike, *, channel_order: str = "rgb") -> np.ndarray:
        """A mask hiding no patch of ``image``: ``rows * columns`` False values."""
        rows, columns = self.patch_grid(image, channel_order=channel_order)
        return np.zeros(rows * columns, dtype=bool)

    def _grid(self, decoded: np.ndarray) -> tuple[int, int]:
        height, width = self.preprocessor.output_size(decoded.shape[0], decoded.shape[1])
        patch = self.manifest.input.patch_size
        return height // patch, width // patch

    def _masks(self, masks: ArrayLike, decoded: Sequence[np.ndarray], single: bool) -> np.ndarray:
        """``masks`` checked against the images' patch grid: (count, patches) bool."""
        grids = sorted({self._grid(image) for image in decoded})
        if len(grids) > 1:
            raise ImageFormatError(
                f"the images have different patch grids {grids} (this artifact keeps each image's size or aspect "
                "ratio), so their masks and outputs differ in length; pass them in separate calls"
            )
        rows, columns = grids[0]
        array = np.asarray(masks)
        if array.dtype != np.bool_:
            raise InputError(f"masks must be boolean (True = masked patch), got dtype {array.dtype}")
        expected = (rows * columns,) if single else (len(decoded), rows * columns)
        if array.shape != expected:
            raise InputError(
                f"masks have shape {array.shape}, expected {expected}: one boolean per patch "
                f"({rows}x{columns} = {rows * columns} patches, row-major; patch_grid(image) gives them) for each image"
            )
        return np.ascontiguousarray(array.reshape(len(decoded), rows * columns))

    def logits(self, images: Images, masks: ArrayLike, *, channel_order: str = "rgb") -> np.ndarray:
        decoded, single = self.load_images(images, channel_order=channel_order)
        self.check_image_sizes(decoded)
        feeds = {MASK_INPUT: self._masks(masks, decoded, single)}
        logits = self.run_images(decoded, extra=feeds)["logits"].astype(np.float32, copy=False)
        return logits[0] if single else logits

    def predict(self, images: Images, masks: ArrayLike, *, channel_order: str = "rgb") -> np.ndarray:
        """Predicted visual-token ids: (patches,) for one image, (N, patches) for a list."""
        ids: np.ndarray = self.logits(images, masks, channel_order=channel_order).argmax(axis=-1)
        return ids

    __call__ = predict
