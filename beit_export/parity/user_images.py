"""The user's own images for calibration (``--calibration-data``) and parity (``--parity-data``).

Images are found recursively in the folder (every extension Pillow opens; a segmentation data set's
``images/`` only, beside its ``masks/``; evaluation report folders left out: ``unlabelled_images``, whose
``notes`` say so), a deterministic sample of
``size`` is taken (the files ranked by ``beit_runtime.datasets.name_rank``, as ``deterministic_sample``
ranks them: the same files on every machine), and each is decoded as the runtime decodes it (Pillow, EXIF
orientation applied). Unreadable files are skipped, counted and replaced by the next files in that order,
so ``size`` images are used whenever the folder has that many readable ones; a folder without a single
readable image is a ``DatasetError`` (a usage error, exit 2, from the CLI). The manifest records how many
images were used and skipped and a digest of the list of files used (``record``), never the images or their
names.

The images are preprocessed by the checkpoint's Hugging Face image processor (``hf_preprocess``), the
same reference preprocessing the photo cases use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from beit_runtime.datasets import file_list_digest, name_rank, unlabelled_images
from beit_runtime.errors import DatasetError, ImageError
from beit_runtime.images import load_image

from .photos import hf_preprocess


@dataclass(frozen=True)
class UserImages:
    """Decoded RGB images sampled from a folder, and what the manifest records about them."""

    images: tuple[np.ndarray, ...]
    record: dict[str, Any]
    notes: tuple[str, ...] = ()  # what of the folder was not read as images, one line each

    def __len__(self) -> int:
        return len(self.images)


def read_user_images(folder: str | Path, *, size: int, purpose: str) -> UserImages:
    """Up to ``size`` decoded images from ``folder`` (see the module docstring); ``purpose`` names the option."""
    root = Path(folder)
    listing = unlabelled_images(root)
    found = listing.files  # regular files only: no dangling link, no pipe
    loaded: dict[Path, np.ndarray] = {}
    skipped = 0
    for path in sorted(found, key=lambda path: name_rank(path, root=root)):
        if len(loaded) == size:
            break
        try:
            loaded[path] = load_image(path)
        except ImageError:
            skipped += 1
    chosen = [path for path in found if path in loaded]  # in relative-path order, as deterministic_sample returns
    images = [loaded[path] for path in chosen]
    if not images:
        raise DatasetError(
            f"{purpose} folder {root} has no readable image ({len(found)} image file(s) found, {skipped} unreadable); "
            "pass a folder holding JPEG, PNG, WebP, TIFF... images (searched recursively)"
        )
    record = {"images": len(images), "skipped": skipped, "found": len(found),
              "file_list_sha256": file_list_digest(chosen, root=root)}
    return UserImages(images=tuple(images), record=record, notes=listing.notes)


def preprocessed(images: UserImages, preprocessing: Any, *, model_type: str) -> list[np.ndarray]:
    """Each image as a (1, 3, H, W) float32 batch, preprocessed by the checkpoint's HF processor."""
    return [hf_preprocess([image], preprocessing, model_type=model_type).numpy() for image in images.images]


def grouped_batches(pixels: list[np.ndarray], *, batch_size: int = 8) -> list[np.ndarray]:
    """(1, 3, H, W) arrays stacked into batches of at most ``batch_size`` images of one size, in order."""
    groups: dict[tuple[int, ...], list[np.ndarray]] = {}
    for item in pixels:
        groups.setdefault(tuple(item.shape[1:]), []).append(item[0])
    return [np.stack(items[start:start + batch_size]) for items in groups.values()
            for start in range(0, len(items), batch_size)]
