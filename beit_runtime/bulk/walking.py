"""What a folder run works on: every image under the given folders, plus the files named directly.

Each image gets the name its results carry: its path relative to the folder it was found in (posix
separators), or its file name when it was named directly. Two inputs giving the same name would
write the same outputs, so they are refused before anything runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..datasets.discovery import image_files
from ..errors import InputError


@dataclass(frozen=True)
class ImageItem:
    """One image of a run: where it is read from and the relative name its outputs carry."""

    path: Path
    relative: str


def collect_items(inputs: Sequence[str | os.PathLike[str]], *, pattern: str | None = None) -> list[ImageItem]:
    """Images of ``inputs``: folders walked recursively (image extensions Pillow opens, ``pattern`` a glob
    on the relative path), files taken as given. InputError for a missing input or two equal names."""
    if not inputs:
        raise InputError("no inputs given; pass image files or folders")
    items: list[ImageItem] = []
    for source in map(Path, inputs):
        if source.is_dir():
            items.extend(ImageItem(path, path.relative_to(source).as_posix())
                         for path in image_files(source, pattern=pattern))
        elif source.is_file():
            items.append(ImageItem(source, source.name))
        else:
            raise InputError(f"{source} does not exist; pass image files or folders")
    return _unique(items)


def _unique(items: Sequence[ImageItem]) -> list[ImageItem]:
    """``items`` with an image given twice (same file, same name) kept once; InputError for two files under
    one name."""
    seen: dict[str, Path] = {}
    unique = []
    for item in items:
        earlier = seen.setdefault(item.relative, item.path)
        if earlier.resolve() != item.path.resolve():
            raise InputError(
                f"{earlier} and {item.path} would both write results named {item.relative!r}; "
                "run them into separate --output folders"
            )
        if earlier is item.path:
            unique.append(item)
    return unique


def chunked(items: Sequence[ImageItem], size: int) -> Iterator[list[ImageItem]]:
    """``items`` in consecutive lists of ``size`` (the last may be shorter)."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
