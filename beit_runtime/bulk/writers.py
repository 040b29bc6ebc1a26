"""The output folder of a folder run, and how it resumes.

Layout (``OUT``): ``results.jsonl`` (one line per image that succeeded, "image" its relative name),
``errors.jsonl`` (one line per image that failed: "image", "error" (the type), "reason"), per-image files
at ``OUT/<relative name>.png`` (segmentation label maps; ``.overlay.png`` with overlays), embeddings in
``OUT/embeddings/shard-NNNNN.npy`` ((rows, D) float32; each line names its shard and row), and
``run.json`` (the settings of the run that made the folder: ``run_record``, which also keeps a run out of a
folder that holds other files).

Every file is written then renamed (``files.write_atomically``) before the line naming its image is
appended, so a line in results.jsonl means all of the image's outputs are whole. Resuming: an image with
a line in results.jsonl is done; an image with a line in errors.jsonl is tried again (its old line is
dropped first); temporary files and embedding shards no line refers to (a kill between the shard's
rename and its lines) are deleted. One run at a time: the folder is locked while an ``OutputFolder`` is
open (``files.FolderLock``); use it as a context manager, which also writes the embeddings waiting for a
shard when the run ends, however it ends (Ctrl-C, SIGTERM, an error), so every image done is kept.
An image whose output cannot be named (a file name too long for the file system; a file where its output's
folder would be) is a failure in errors.jsonl, not the end of the run.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from ..datasets.discovery import ERRORS_FILE, RESULTS_FILE
from ..errors import OutputWriteError
from ..output_files import remove_abandoned_temporaries, write_atomically
from .files import FolderLock, LineFile
from .results import ImageResult
from .run_record import check_run_record
from .walking import ImageItem

EMBEDDINGS_FOLDER = "embeddings"
SHARD_PREFIX = "shard-"
# write failures that belong to one image (its name; a file where its output's folder would be), not to the run
# (a full disk)
IMAGE_WRITE_ERRORS = (errno.ENAMETOOLONG, errno.EISDIR, errno.EEXIST, errno.ENOTDIR)


class OutputFolder:
    """Writes ``ImageResult``s into ``folder``; ``done`` holds the images an earlier run finished."""

    def __init__(self, folder: Path, *, settings: Mapping[str, Any], shard_size: int = 1024,
                 shard_seconds: float = 60.0) -> None:
        self.folder = folder
        self.shard_size = shard_size
        self.shard_seconds = shard_seconds  # a shorter shard once its first row has waited this long
        self._shard_started = 0.0
        self.results = LineFile(folder / RESULTS_FILE)
        self.errors = LineFile(folder / ERRORS_FILE)
        self._shard_rows: list[tuple[ImageResult, np.ndarray]] = []
        folder.mkdir(parents=True, exist_ok=True)
        self._lock = FolderLock(folder)  # first: the repair and clean-up below would cut a live run's files
        try:
            check_run_record(folder, settings)
            remove_abandoned_temporaries(folder)
            self.results.repair()
            self.errors.repair()
            self.done, shards = self._finished()
            self._next_shard = self._remove_unreferenced_shards(shards)
        except BaseException:
            self._lock.release()
            raise

    def __enter__(self) -> OutputFolder:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        """The embeddings waiting for a shard written (the images done are kept however the run ends), then
        the folder unlocked. After an error, a failure to write them does not hide that error."""
        try:
            if kind is None:
                self.flush()
            else:
                with contextlib.suppress(OSError):
                    self.flush()
        finally:
            self._lock.release()

    def _finished(self) -> tuple[set[str], set[str]]:
        done, shards = set(), set()
        for record in self.results.records():
            done.add(record["image"])
            if "embedding" in record:
                shards.add(record["embedding"]["shard"])
        return done, shards

    def _remove_unreferenced_shards(self, referenced: set[str]) -> int:
        """Delete shards no line refers to; the number the next shard gets."""
        folder = self.folder / EMBEDDINGS_FOLDER
        numbers = [-1]
        for path in sorted(folder.glob(f"{SHARD_PREFIX}*.npy")) if folder.is_dir() else []:
            name = f"{EMBEDDINGS_FOLDER}/{path.name}"
            if name in referenced:
                numbers.append(int(path.stem.removeprefix(SHARD_PREFIX)))
            else:
                path.unlink()
        return max(numbers) + 1

    def pending(self, items: Sequence[ImageItem]) -> list[ImageItem]:
        """The items still to run; their lines in errors.jsonl are dropped (they are tried again)."""
        todo = [item for item in items if item.relative not in self.done]
        retried = {item.relative for item in todo}
        earlier = list(self.errors.records())
        kept = [record for record in earlier if record.get("image") not in retried]
        if len(kept) != len(earlier):
            self.errors.replace(kept)
        return todo

    def write(self, results: Sequence[ImageResult]) -> int:
        """One batch: files renamed into place first, then its lines (embeddings: when their shard is full, or its
        first row has waited ``shard_seconds``, so a kill -9 loses at most about that much work);
        how many of its images failed (undecodable, or an output that could not be named)."""
        failures, lines = [], []
        for result in results:
            error = result.error or self._write_files(result)
            if error is not None:
                failures.append({"image": result.relative, "error": error[0], "reason": error[1]})
            elif result.embedding is None:
                lines.append({"image": result.relative, **result.record})
            else:
                self._shard_started = self._shard_started if self._shard_rows else time.monotonic()
                self._shard_rows.append((result, result.embedding))
        self.errors.append(failures)
        self.results.append(lines)
        waited = time.monotonic() - self._shard_started
        if self._shard_rows and (len(self._shard_rows) >= self.shard_size or waited >= self.shard_seconds):
            self.flush()
        return len(failures)

    def _write_files(self, result: ImageResult) -> tuple[str, str] | None:
        """``result``'s files written; the error (type, reason) when one cannot be named, as for an image that
        does not decode; other write errors (a full disk) end the run."""
        for name, data in result.files:
            try:
                write_atomically(self.folder / name, data)
            except OutputWriteError as error:
                if error.errno not in IMAGE_WRITE_ERRORS:
                    raise
                return type(error).__name__, _unnamable(self.folder, name, result, error)
        return None

    def flush(self) -> None:
        """Write the embeddings waiting for a shard (a shorter last shard), then their lines. The rows are let
        go once the shard is renamed, before the lines: an interrupted flush flushed again never writes a line
        twice (at worst a few images lack lines and are run again)."""
        if not self._shard_rows:
            return
        rows = self._shard_rows
        name = f"{EMBEDDINGS_FOLDER}/{SHARD_PREFIX}{self._next_shard:05d}.npy"
        buffer = io.BytesIO()
        np.save(buffer, np.stack([vector for _, vector in rows]).astype(np.float32))
        write_atomically(self.folder / name, buffer.getvalue())
        self._shard_rows = []
        self._next_shard += 1
        self.results.append([{"image": result.relative, **result.record, "embedding": {"shard": name, "row": row}}
                             for row, (result, _) in enumerate(rows)])


def _unnamable(folder: Path, name: str, result: ImageResult, error: OutputWriteError) -> str:
    """Why ``result``'s output ``name`` could not be written (its file name, or its whole path, too long;
    a folder with its name), and what to rename."""
    if error.errno == errno.EISDIR:
        return f"its output {name} is a folder in {folder}: move that folder away and rerun"
    if error.errno in (errno.EEXIST, errno.ENOTDIR):
        in_the_way = next((parent for parent in reversed(Path(name).parents) if (folder / parent).is_file()),
                          Path(name).parent)
        return (f"its output {name} needs a folder {in_the_way} in {folder}, where a file has that name (another "
                "image's output, or a file put there): rename the image or its folder and rerun")
    limit = _name_limit(folder)
    length = len(os.fsencode(Path(name).name))
    if length > limit:
        longest = max(len(os.fsencode(Path(output).name)) for output, _ in result.files)
        added = longest - len(os.fsencode(Path(result.relative).name))  # ".png", ".overlay.png"
        return (f"its output file name {Path(name).name!r} is {length} bytes, more than the {limit} the file "
                f"system allows: rename the image to at most {limit - added} bytes and rerun")
    return (f"its output path {folder / name} is longer than the file system allows ({error.strerror}): "
            "rename the image or its folders to shorter names, or pass a shorter --output path")


def _name_limit(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255
