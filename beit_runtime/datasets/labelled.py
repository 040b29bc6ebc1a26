"""Labelled data sets on disk, as users keep them.

- Classification, the ImageFolder layout: ``DIR/<class name>/.../image.ext``. Every class folder must be
  named as one of the artifact's labels (``classification_samples(folder, labels=...)``) or by its class id
  (how to name a class whose label another class shares: ImageNet has two "crane" and two "maillot"); a
  folder that is neither is a DatasetError naming it and listing the labels, and a shared label is one
  naming the ids. Names are compared in Unicode NFC, so a folder named in NFD (as macOS and zips made there
  store "café") is its label's folder.
- Segmentation: ``DIR/images/NAME.ext`` with ``DIR/masks/NAME.png`` holding class ids as pixel values,
  255 ignored. ``reduce_labels=True`` maps 0 to 255 and shifts the rest down by one, as
  BeitImageProcessor's ``do_reduce_labels`` does (ADE20k's "other" class 0 becomes ignored). A mask
  whose size differs from its image is a DatasetError naming the pair (checked when the pair is read,
  ``read_mask``; a mask is turned upright by its own EXIF tag, as images are, and the error says when the
  image has such a tag), an image without a mask is one too (checked when listing), and so is a mask id
  that is neither one of the model's classes nor 255 (named with its file).

Unreadable images are not errors here: the evaluator skips and counts them. Evaluation report folders inside
the data are not read (``discovery.is_report_folder``); ``reports``, when given, lists them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from .discovery import image_files
from .unlabelled import IMAGES_FOLDER, MASKS_FOLDER, segmentation_layout

IGNORE_INDEX = 255


@dataclass(frozen=True)
class Sample:
    """One labelled image: its path and, for classification, its class id (``target``); for segmentation,
    the path of its mask (``mask``)."""

    path: Path
    target: int = -1
    mask: Path | None = None


def classification_samples(folder: str | Path, *, labels: Mapping[int, str],
                           skip_folders: Sequence[str | Path] = (), reports: list[Path] | None = None) -> list[Sample]:
    """Samples of an ImageFolder-layout ``folder`` whose class folders are named as ``labels``' values (or by
    class id: the way to name a class whose label another class shares); ``skip_folders`` are not walked,
    nor report folders (added to ``reports`` when given)."""
    root = Path(folder)
    files = image_files(root, skip_folders=skip_folders, reports=[] if reports is None else reports)
    if not files:
        raise DatasetError(f"{root} holds no image files; expected DIR/<class name>/<image> (ImageFolder layout)")
    ids: dict[str, list[int]] = {}
    for class_id, name in labels.items():
        ids.setdefault(_nfc(name), []).append(class_id)
    samples = []
    for path in files:
        relative = path.relative_to(root)
        if len(relative.parts) < 2:
            raise DatasetError(f"{path} is not inside a class folder; put each image in DIR/<class name>/")
        samples.append(Sample(path=path, target=_class_id(relative.parts[0], ids=ids, labels=labels, root=root)))
    return samples


def _class_id(folder_name: str, *, ids: Mapping[str, list[int]], labels: Mapping[int, str], root: Path) -> int:
    """The class a class folder holds: the one its label names (both in NFC), else the id it is named by."""
    found = ids.get(_nfc(folder_name), [])
    if len(found) == 1:
        return found[0]
    if found:
        named = " and ".join(str(class_id) for class_id in found)
        raise DatasetError(f"class folder {folder_name!r} in {root} is ambiguous: the artifact's classes {named} "
                           f"are all labelled {folder_name!r}; name the folder by the class id it holds "
                           f"(e.g. {root / str(found[0])})")
    if folder_name.isdigit() and int(folder_name) in labels:
        return int(folder_name)
    known = ", ".join(repr(name) for name in list(ids)[:20]) + (", ..." if len(ids) > 20 else "")
    raise DatasetError(f"class folder {folder_name!r} in {root} is not one of the artifact's labels ({known}); "
                       "rename the folder to the label it holds, or to its class id")


def _nfc(name: str) -> str:
    return unicodedata.normalize("NFC", name)


def segmentation_samples(folder: str | Path, *, skip_folders: Sequence[str | Path] = (),
                         reports: list[Path] | None = None) -> list[Sample]:
    """Samples of ``folder/images`` paired by name with ``folder/masks/NAME.png``; ``skip_folders`` are not
    walked, nor report folders (added to ``reports`` when given)."""
    root = Path(folder)
    images_dir, masks_dir = root / IMAGES_FOLDER, root / MASKS_FOLDER
    if not segmentation_layout(root):
        raise DatasetError(f"{root} must hold images/ and masks/ (DIR/images/NAME.ext with DIR/masks/NAME.png)")
    images = image_files(images_dir, skip_folders=skip_folders, reports=[] if reports is None else reports)
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
    from PIL import Image, ImageOps

    from ..images import PILLOW_DECODE_ERRORS

    if sample.mask is None:
        raise DatasetError(f"{sample.path} has no mask")
    try:
        with Image.open(sample.mask) as opened:
            return np.asarray(ImageOps.exif_transpose(opened) if exif_orientation else opened)
    except PILLOW_DECODE_ERRORS as error:
        raise DatasetError(f"mask {sample.mask} cannot be read ({error}); masks are PNGs of class ids") from error


def _orientation_hint(image: Path) -> str:
    """Why an upright image may not match its mask: the image's EXIF orientation tag, if it has one."""
    from PIL import ExifTags, Image

    from ..images import PILLOW_DECODE_ERRORS

    try:
        with Image.open(image) as opened:
            orientation = opened.getexif().get(ExifTags.Base.Orientation, 1)
    except PILLOW_DECODE_ERRORS:
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
