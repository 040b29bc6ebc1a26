"""A folder of images read as data without labels: calibration and parity images (``beit-export
--calibration-data``/``--parity-data``), ``beit-run evaluate``/``tune --unlabelled``.

``unlabelled_images(folder)`` is ``image_files`` with what a data folder may hold besides its images left out,
and said in ``notes`` (one line each, for where the reader reports what it skipped):
- a segmentation data set in evaluate's layout (``DIR/images`` beside ``DIR/masks``): only ``DIR/images`` is
  read, as its masks are class ids, not pictures;
- evaluation report folders (``discovery.is_report_folder``), whose plot is no data image.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import DatasetError
from .discovery import image_files, not_a_folder

IMAGES_FOLDER, MASKS_FOLDER = "images", "masks"


def segmentation_layout(folder: Path) -> bool:
    """Whether ``folder`` is laid out as a segmentation data set: ``images/`` and ``masks/`` side by side."""
    return (folder / IMAGES_FOLDER).is_dir() and (folder / MASKS_FOLDER).is_dir()


@dataclass(frozen=True)
class FoundImages:
    """The image files of a data folder (``files``), and what was left out of it (``notes``)."""

    files: list[Path]
    notes: tuple[str, ...] = ()


def unlabelled_images(folder: str | os.PathLike[str], *,
                      skip_folders: Sequence[str | os.PathLike[str]] = ()) -> FoundImages:
    """The images of ``folder`` to read as unlabelled data (see the module docstring); DatasetError when it is
    not a folder."""
    root = Path(folder)
    problem = not_a_folder(root)
    if problem:
        raise DatasetError(f"{root} {problem}; pass a folder of images")
    notes = []
    read = root
    if segmentation_layout(root):
        read = root / IMAGES_FOLDER
        notes.append(f"reading {read} only: {root} holds {IMAGES_FOLDER}/ and {MASKS_FOLDER}/ (a segmentation data "
                     "set), and its masks are labels, not images")
    reports: list[Path] = []
    files = image_files(read, skip_folders=skip_folders, reports=reports)
    return FoundImages(files, tuple(notes) + reports_note(reports))


def reports_note(reports: Sequence[Path]) -> tuple[str, ...]:
    """One line saying which evaluation report folders were not read (none when there were none)."""
    if not reports:
        return ()
    shown = ", ".join(str(path) for path in sorted(reports)[:3]) + (", ..." if len(reports) > 3 else "")
    return (f"skipped {len(reports)} evaluation report folder(s), not data: {shown}",)
