"""Finding image files in a folder: recursive, in a stable order, by the extensions Pillow opens.

``image_files(folder)`` lists every regular file under ``folder`` (recursively; symlinked folders not
followed unless ``follow_links``, then a link to a folder it is in is skipped, so a loop ends; pipes, sockets and
devices skipped, as reading them could block) whose extension is one Pillow registers an opener for, sorted by
their path relative to ``folder`` so the order does not depend on the file system. Hidden files and folders (a
name starting with ".": macOS's ``._IMG_0001.jpg`` AppleDouble files, ``.thumbnails/``) are skipped, as the
shell's globs skip them, unless a pattern names them (a segment starting with ".": ``.thumbnails/*.jpg``,
``**/.*.png``). Data readers pass ``reports``: then evaluation report folders (``is_report_folder``: ``beit-run
evaluate --output`` wrote or is writing there) are not walked either, and are listed in it, so a report kept
inside the data is never read as data by a later run; folder runs also pass ``run_outputs``, for the output
folders of earlier folder runs (``is_folder_run_output``: ``beit-run ART FOLDER --output OUT``), whose label maps
and overlays are not photos.

``deterministic_sample(paths, size=N)`` picks N of them
the same way on every machine: by the SHA-256 of each relative path, so adding files to a folder keeps
most of an earlier sample. ``file_list_digest`` is what a manifest records about a data set: how many
files and a digest of their relative names and sizes, never the images.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from fnmatch import fnmatchcase
from functools import lru_cache
from pathlib import Path, PurePath

from ..errors import DatasetError

# what ``beit-run evaluate --output DIR`` writes into DIR (beit_runtime.evaluation imports these names)
STATE_FILE = "evaluation-state.json"
REPORT_FILE = "evaluation.md"
PLOT_FILE = "accuracy-vs-speed.png"
REPORT_FILES = (STATE_FILE, REPORT_FILE, PLOT_FILE)
# what a folder run (``beit-run ART FOLDER --output OUT``) writes into OUT (beit_runtime.bulk imports these names):
# run.json first, then a line per image in results.jsonl or errors.jsonl
RUN_FILE = "run.json"
RESULTS_FILE = "results.jsonl"
ERRORS_FILE = "errors.jsonl"


@lru_cache(maxsize=1)
def image_extensions() -> frozenset[str]:
    """Lower-case extensions (".jpg", ".png", ...) Pillow can open (not the save-only ones)."""
    from PIL import Image

    Image.init()
    return frozenset(ext.lower() for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN)


def is_image_name(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() in image_extensions()


def not_a_folder(path: Path) -> str:
    """What is wrong with ``path`` as a folder to read ("does not exist", "is a file, not a folder"); "" if nothing."""
    if path.is_dir():
        return ""
    return "is a file, not a folder" if path.exists() else "does not exist"


def is_report_folder(folder: Path) -> bool:
    """Whether ``folder`` holds an evaluation report, finished or not (a file named as one of REPORT_FILES)."""
    return any((folder / name).is_file() for name in REPORT_FILES)


def is_folder_run_output(folder: Path) -> bool:
    """Whether ``folder`` is a folder run's OUT: its run.json, and a results.jsonl or errors.jsonl beside it."""
    return (folder / RUN_FILE).is_file() and any((folder / name).is_file() for name in (RESULTS_FILE, ERRORS_FILE))


def image_files(folder: str | os.PathLike[str], *, pattern: str | None = None,
                skip_folders: Sequence[str | os.PathLike[str]] = (), dangling: bool = False,
                reports: list[Path] | None = None, run_outputs: list[Path] | None = None,
                follow_links: bool = False) -> list[Path]:
    """Image files under ``folder``, recursively, sorted by relative path, hidden ones skipped (see the module
    docstring); ``pattern``: a glob on the relative path (``glob_match``: "**/*.jpg"); ``skip_folders``:
    folders not walked (an output folder inside ``folder``); ``dangling``: also symbolic links with an
    image's name whose target is gone (a folder run reports them as failures rather than skip them unseen);
    ``reports``: a list to which the evaluation report folders met are added, instead of being walked;
    ``run_outputs``: the same for folder runs' output folders; ``follow_links``: walk symlinked folders too.
    DatasetError when ``folder`` is not a folder."""
    root = Path(folder)
    problem = not_a_folder(root)
    if problem:
        raise DatasetError(f"{root} {problem}; pass a folder of images")
    skipped = {_identity(path) for path in map(Path, skip_folders) if path.is_dir()}
    hidden_named = pattern is not None and any(part.startswith(".") for part in pattern_parts(pattern))
    above = {str(root): frozenset([_identity(root)])} if follow_links else {}  # folders each one is in, by identity
    found = []
    for current, folders, files in os.walk(root, followlinks=follow_links):
        folders[:] = sorted(name for name in folders if (hidden_named or not _hidden(name))
                            and (not skipped or _identity(Path(current) / name) not in skipped)
                            and not _report_met(Path(current) / name, reports, run_outputs))
        if follow_links:
            folders[:] = _not_looping(current, folders, above)
        for name in files:
            path = Path(current) / name
            wanted = glob_match(path.relative_to(root), pattern) if pattern is not None else not _hidden(name)
            if is_image_name(path) and wanted and (path.is_file() or (dangling and _dangling(path))):
                found.append(path)
    return sorted(found, key=lambda path: path.relative_to(root).as_posix())


def _not_looping(current: str, folders: list[str], above: dict[str, frozenset[tuple[int, int]]]) -> list[str]:
    """``folders`` of ``current`` less those that are ``current`` or a folder it is in (a link back: a loop);
    ``above`` (each folder walked: the identities of it and the folders it is in) updated for the ones kept."""
    chain = above.pop(current)
    kept = []
    for name in folders:
        identity = _identity(Path(current) / name)
        if identity not in chain:
            above[os.path.join(current, name)] = chain | {identity}
            kept.append(name)
    return kept


def glob_match(relative: PurePath, pattern: str) -> bool:
    """Whether a path relative to its folder matches ``pattern`` as the shell's globstar reads it: ``*``, ``?``
    and ``[...]`` within one name, ``**`` for any number of folders, none included ("**/*.jpg" takes
    "top.jpg" too); a pattern without "/" matches the file name at any depth ("*.jpg"); a leading "./" is
    the folder itself ("./raw/*.png" is "raw/*.png"). Hidden names (starting with ".") match only a segment
    that starts with "." too, and ``**`` does not enter hidden folders (bash without dotglob). Case-sensitive."""
    parts = pattern_parts(pattern)
    if not parts:  # "." or "./": no file
        return False
    if "/" not in pattern:
        return not any(_hidden(folder) for folder in relative.parts[:-1]) and _name_match(relative.name, parts[0])
    return _parts_match(relative.parts, parts)


def pattern_parts(pattern: str) -> tuple[str, ...]:
    """``pattern``'s segments, without the empty and "." ones ("./raw//*.png": ("raw", "*.png"))."""
    return tuple(part for part in pattern.split("/") if part not in ("", "."))


def _parts_match(parts: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_parts_match(parts[start:], pattern[1:]) for start in range(len(parts) + 1)
                   if not any(_hidden(folder) for folder in parts[:start]))
    return bool(parts) and _name_match(parts[0], pattern[0]) and _parts_match(parts[1:], pattern[1:])


def _name_match(name: str, segment: str) -> bool:
    return (segment.startswith(".") or not _hidden(name)) and fnmatchcase(name, segment)


def _report_met(folder: Path, reports: list[Path] | None, run_outputs: list[Path] | None = None) -> bool:
    """Whether ``folder`` is a report folder (added to ``reports``) or a folder run's output (added to
    ``run_outputs``) to leave out; never for a kind whose list is None."""
    if reports is not None and is_report_folder(folder):
        reports.append(folder)
        return True
    if run_outputs is not None and is_folder_run_output(folder):
        run_outputs.append(folder)
        return True
    return False


def _hidden(name: str) -> bool:
    return name.startswith(".")


def _dangling(path: Path) -> bool:
    return path.is_symlink() and not path.exists()


def _identity(folder: Path) -> tuple[int, int]:
    """(device, inode): the same folder whatever path names it."""
    status = folder.stat()
    return status.st_dev, status.st_ino


def name_rank(path: Path, *, root: Path) -> str:
    """The SHA-256 of ``path`` relative to ``root``: sorting by it spreads a prefix over every folder (class,
    scene) of a data set, the same way on every machine."""
    return hashlib.sha256(os.fsencode(path.relative_to(root).as_posix())).hexdigest()


def deterministic_sample(paths: Sequence[Path], *, root: Path, size: int) -> list[Path]:
    """``size`` of ``paths`` (all when fewer), chosen by ``name_rank``, returned in relative-path order."""
    if size >= len(paths):
        return list(paths)
    chosen = set(sorted(paths, key=lambda path: name_rank(path, root=root))[:size])
    return [path for path in paths if path in chosen]


def file_list_digest(paths: Sequence[Path], *, root: Path) -> str:
    """SHA-256 over the relative names and byte sizes of ``paths`` (what a manifest records of a data set)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(os.fsencode(f"{path.relative_to(root).as_posix()}\0{path.stat().st_size}\n"))
    return digest.hexdigest()
