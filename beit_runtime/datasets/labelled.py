"""Labelled data sets on disk, as users keep them.

- Classification, the ImageFolder layout: ``DIR/<class name>/.../image.ext``. Every class folder must be
  named as one of the artifact's labels (``classification_samples(folder, labels=...)``); a folder
  that is not a label is a DatasetError naming it and listing the labels.
- Segmentation: ``DIR/images/NAME.ext`` with ``DIR/masks/NAME.png`` holding class ids as pixel values,
  255 ignored. ``reduce_labels=True`` maps 0 to 255 and shifts the rest down by one, as
  BeitImageProcessor's ``do_reduce_labels`` does (ADE20k's "other" class 0 becomes ignored). A mask
  whose size differs from its image is a DatasetError naming the pair (checked when the pair is read,
  ``read_mask``; a mask is turned upright by its own EXIF tag, as images are, and the error says when the
  image has such a tag), an image without a mask is one too (checked when listing), and so is a mask id
  that is neither one of the model's classes nor 255 (named with its file).

Unreadable images are not errors here: the evaluator skips and counts them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from .discovery import image_files

IGNORE_INDEX = 255


@dataclass(frozen=True)
class Sample:
    """One labelled image: its path and, for classification, its class id (``target``); for segmentation,
    the path of its mask (``mask``)."""

    path: Path
    target: int = -1
    mask: Path | None = None


def classification_samples(folder: str | Path, *, labels: Mapping[int, str]) -> list[Sample]:
    """Samples of an ImageFolder-layout ``folder`` whose class folders are named as ``labels``' values."""
    root = Path(folder)
    files = image_files(root)
    if not files:
        raise DatasetError(f"{root} holds no image files; expected DIR/<class name>/<image> (ImageFolder layout)")
    ids = {name: class_id for class_id, name in labels.items()}
    samples = []
    for path in files:
        relative = path.relative_to(root)
        if len(relative.parts) < 2:
            raise DatasetError(f"{path} is not inside a class folder; put each image in DIR/<class name>/")
        class_name = relative.parts[0]
        if class_name not in ids:
            known = ", ".join(repr(name) for name in list(ids)[:20]) + (", ..." if len(ids) > 20 else "")
            raise DatasetError(
                f"class folder {class_name!r} in {root} is not one of the artifact's labels ({known}); "
                "rename the folder to the label it holds"
            )
        samples.append(Sample(path=path, target=ids[class_name]))
    return samples


def segmentation_samples(folder: str | Path) -> list[Sample]:
    """Samples of ``folder/images`` paired by name with ``folder/masks/NAME.png``."""
    root = Path(folder)
    images_dir, masks_dir = root / "images", root / "masks"
    if not images_dir.is_dir() or not masks_dir.is_dir():
        raise DatasetError(f"{root} must hold images/ and masks/ (DIR/images/NAME.ext with DIR/masks/NAME.png)")
    images = image_files(images_dir)
    if not images:
        raise DatasetError(f"{images_dir} holds no image files")
    samples = []
    for path in images:
        mask = masks_dir / path.relative_to(images_dir).with_suffix(".png")
        if not mask.is_file():
            raise DatasetError(f"image {path} has no mask {mask}; every image needs DIR/masks/NAME.png")
        samples.append(Sample(path=path, mask=mask))
    return samples


def read_mask(sample: Sample, *, image_size: tuple[int, int], reduce_labels: bool = False,
              num_classes: int | None = None, exif_orientation: bool = True) -> np.ndarray:
    """The (H, W) int64 class ids of ``sample.mask`` (255: ignored); DatasetError when it does not fit its image
    or (given ``num_classes``) holds ids outside 0..num_classes-1. ``exif_orientation``: turn the mask upright
    by its own EXIF tag, as the image is."""
    mask = _mask_pixels(sample, exif_orientation=exif_orientation)
    if mask.ndim != 2:
        raise DatasetError(
            f"mask {sample.mask} has shape {mask.shape}; expected one channel of class ids (mode L or I)")
    if mask.shape != tuple(image_size):
        raise DatasetError(
            f"mask {sample.mask} is {mask.shape[1]}x{mask.shape[0]} but its image {sample.path} is "
            f"{image_size[1]}x{image_size[0]}; a mask must have its image's size{_orientation_hint(sample.path)}"
        )
    labels = mask.astype(np.int64)
    if reduce_labels:
        labels = np.where(labels == 0, IGNORE_INDEX, labels - 1)
        labels[labels == IGNORE_INDEX - 1] = IGNORE_INDEX
    if num_classes is not None:
        _check_class_ids(labels, sample, num_classes=num_classes, reduce_labels=reduce_labels)
    return labels


def _mask_pixels(sample: Sample, *, exif_orientation: bool) -> np.ndarray:
    from PIL import Image, ImageOps, UnidentifiedImageError

    if sample.mask is None:
        raise DatasetError(f"{sample.path} has no mask")
    try:
        with Image.open(sample.mask) as opened:
            return np.asarray(ImageOps.exif_transpose(opened) if exif_orientation else opened)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, EOFError) as error:
        raise DatasetError(f"mask {sample.mask} cannot be read ({error}); masks are PNGs of class ids") from error


def _orientation_hint(image: Path) -> str:
    """Why an upright image may not match its mask: the image's EXIF orientation tag, if it has one."""
    from PIL import ExifTags, Image

    try:
        with Image.open(image) as opened:
            orientation = opened.getexif().get(ExifTags.Base.Orientation, 1)
    except (OSError, ValueError, SyntaxError, EOFError):
        return ""
    if orientation not in range(2, 9):
        return ""
    return (f" (the image has EXIF orientation tag {orientation} and is evaluated turned upright, as viewers "
            "show it; save the mask upright too, or give the mask the same EXIF orientation tag)")


def _check_class_ids(labels: np.ndarray, sample: Sample, *, num_classes: int, reduce_labels: bool) -> None:
    """DatasetError naming the mask and its ids that are neither a class of the model nor 255 (ignored)."""
    bad = ids_outside(labels, num_classes=num_classes)
    if not bad.size:
        return
    shown = ", ".join(str(int(value) + (1 if reduce_labels else 0)) for value in bad[:8])
    more = f" and {bad.size - 8} more" if bad.size > 8 else ""
    fix = ("with --reduce-labels on, stored ids 1..N are classes 0..N-1; check the mask was made for this model"
           if reduce_labels else
           "check the mask was made for this model, or pass --reduce-labels when 0 means 'other' and ids start at 1")
    raise DatasetError(
        f"mask {sample.mask} holds class id(s) {shown}{more}, outside the model's {num_classes} classes "
        f"(0..{num_classes - 1}; 255 is ignored); {fix}"
    )


def ids_outside(labels: np.ndarray, *, num_classes: int) -> np.ndarray:
    """The distinct ids of ``labels`` that are neither a class (0..num_classes-1) nor IGNORE_INDEX, sorted."""
    return np.unique(labels[(labels != IGNORE_INDEX) & ((labels < 0) | (labels >= num_classes))])
