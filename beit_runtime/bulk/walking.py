"""What a folder run works on: every image under the given folders, plus the files named directly.

Each image gets the name its results carry: its path relative to the folder it was found in (posix
separators), or its file name when it was named directly. Two inputs giving the same name would
write the same outputs, so they are refused before anything runs; so are inputs with no image at all, and inputs
inside the output folder (outputs could replace them). The output folder is never walked (a rerun into OUT inside
a FOLDER must not read its own outputs), nor are other folder runs' outputs or evaluation reports found inside a
FOLDER (``left_out`` lists them), nor pipes, sockets or devices (``datasets.discovery.image_files`` skips them).
Symlinked folders are walked as folders (their images named by the link's path).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..datasets.discovery import image_extensions, image_files
from ..errors import InputError

COMMON_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")


@dataclass(frozen=True)
class ImageItem:
    """One image of a run: where it is read from and the relative name its outputs carry."""

    path: Path
    relative: str


def collect_items(inputs: Sequence[str | os.PathLike[str]], *, pattern: str | None = None,
                  output: str | os.PathLike[str] | None = None, left_out: list[Path] | None = None) -> list[ImageItem]:
    """Images of ``inputs``: folders walked recursively, symlinked folders followed (a link to a folder it is in
    is not: a loop), regular files with an image extension Pillow opens, and links to files that are gone, which
    fail when read; ``pattern`` a glob on the relative path; the ``output`` folder, earlier folder runs' output
    folders and evaluation reports skipped (those two added to ``left_out``); files taken as given. InputError for
    a missing or special input, two equal names, an input that is ``output`` or inside it, or no image at all."""
    if not inputs:
        raise InputError("no inputs given; pass image files or folders")
    skipped = [] if output is None else [Path(output)]
    outputs: list[Path] = [] if left_out is None else left_out
    items: list[ImageItem] = []
    for source in map(Path, inputs):
        _check_not_in_output(source, output)
        if source.is_dir():
            found = image_files(source, pattern=pattern, skip_folders=skipped, dangling=True, reports=outputs,
                                run_outputs=outputs, follow_links=True)
            items.extend(ImageItem(path, path.relative_to(source).as_posix()) for path in found)
        elif source.is_file():
            items.append(ImageItem(source, source.name))
        elif source.exists():
            raise special_file_error(source)
        else:
            raise InputError(f"{source} does not exist; pass image files or folders")
    if not items:
        raise InputError(_nothing_found(inputs, pattern))
    return _unique(items)


def special_file_error(path: Path) -> InputError:
    """The error for an input that exists but is neither a file nor a folder (reading a pipe could block)."""
    return InputError(f"{path} is not a regular file (a pipe, socket or device); pass image files or folders")


def _check_not_in_output(source: Path, output: str | os.PathLike[str] | None) -> None:
    """InputError when ``source`` is the ``output`` folder or inside it: its outputs could replace it, and a
    folder's would be read as images by the next run."""
    if output is None or not Path(output).is_dir() or not source.exists():
        return
    if source.is_dir() and source.samefile(output):
        raise InputError(f"--output {output} is the input folder {source}: its outputs would be read as images "
                         f"by the next run; pass a folder of its own (for example {source / 'beit-results'})")
    folder = Path(output).resolve()
    if any(folder in place.parents for place in (source.resolve(), source.absolute().parent.resolve() / source.name)):
        raise InputError(f"{source} is inside --output {output}: the run's outputs could replace it; move it out "
                         "of that folder, or pass another --output folder")


def _nothing_found(inputs: Sequence[str | os.PathLike[str]], pattern: str | None) -> str:
    where = ", ".join(str(source) for source in inputs)
    matching = f" matching --glob {pattern!r}" if pattern is not None else ""
    common = [ext for ext in COMMON_EXTENSIONS if ext in image_extensions()]
    return (f"no image found under {where}{matching}; a folder run reads regular files ending in "
            f"{', '.join(common)} (or another of the {len(image_extensions())} extensions Pillow opens)"
            + ("; check the pattern" if pattern is not None else "; check the folder"))


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
