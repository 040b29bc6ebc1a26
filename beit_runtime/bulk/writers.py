"""The output folder of a folder run, and how it resumes.

Layout (``OUT``): ``results.jsonl`` (one line per image that succeeded, "image" its relative name),
``errors.jsonl`` (one line per image that failed: "image", "error" (the type), "reason"), per-image files
at ``OUT/<relative name>.png`` (segmentation label maps; ``.overlay.png`` with overlays), embeddings in
``OUT/embeddings/shard-NNNNN.npy`` ((rows, D) float32; each line names its shard and row), and
``run.json`` (the settings of the run that made the folder).

Every file is written then renamed (``files.write_atomically``) before the line naming its image is
appended, so a line in results.jsonl means all of the image's outputs are whole. Resuming: an image with
a line in results.jsonl is done; an image with a line in errors.jsonl is tried again (its old line is
dropped first); temporary files and embedding shards no line refers to (a kill between the shard's
rename and its lines) are deleted.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..output_files import write_atomically
from .files import LineFile, remove_temporaries
from .results import ImageResult
from .walking import ImageItem

RESULTS_FILE = "results.jsonl"
ERRORS_FILE = "errors.jsonl"
RUN_FILE = "run.json"
EMBEDDINGS_FOLDER = "embeddings"
SHARD_PREFIX = "shard-"


class OutputFolder:
    """Writes ``ImageResult``s into ``folder``; ``done`` holds the images an earlier run finished."""

    def __init__(self, folder: Path, *, settings: Mapping[str, Any], shard_size: int = 1024) -> None:
        self.folder = folder
        self.shard_size = shard_size
        self.results = LineFile(folder / RESULTS_FILE)
        self.errors = LineFile(folder / ERRORS_FILE)
        self._shard_rows: list[tuple[ImageResult, np.ndarray]] = []
        folder.mkdir(parents=True, exist_ok=True)
        self._check_settings(settings)
        remove_temporaries(folder)
        self.results.repair()
        self.errors.repair()
        self.done, shards = self._finished()
        self._next_shard = self._remove_unreferenced_shards(shards)

    def _check_settings(self, settings: Mapping[str, Any]) -> None:
        """run.json: written by the first run; a rerun with other settings would mix results, so it is refused."""
        path = self.folder / RUN_FILE
        wanted = json.loads(json.dumps(dict(settings)))
        if not path.exists():
            write_atomically(path, (json.dumps(wanted, indent=2) + "\n").encode("utf-8"))
            return
        found = json.loads(path.read_text(encoding="utf-8"))
        changed = sorted(key for key in set(found) | set(wanted) if found.get(key) != wanted.get(key))
        if changed:
            details = ", ".join(f"{key}: {found.get(key)!r} then, {wanted.get(key)!r} now" for key in changed)
            raise InputError(f"{self.folder} holds the results of a run with other settings ({details}); "
                             "rerun with the same settings to resume, or pass another --output folder")

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

    def write(self, results: Sequence[ImageResult]) -> None:
        """One batch: files renamed into place first, then its lines (embeddings: when their shard is full)."""
        self.errors.append([{"image": r.relative, "error": r.error[0], "reason": r.error[1]}
                            for r in results if r.error is not None])
        lines = []
        for result in results:
            if result.error is not None:
                continue
            for name, data in result.files:
                write_atomically(self.folder / name, data)
            if result.embedding is None:
                lines.append({"image": result.relative, **result.record})
            else:
                self._shard_rows.append((result, result.embedding))
        self.results.append(lines)
        if len(self._shard_rows) >= self.shard_size:
            self.flush()

    def flush(self) -> None:
        """Write the embeddings waiting for a shard (a shorter last shard), then their lines."""
        if not self._shard_rows:
            return
        name = f"{EMBEDDINGS_FOLDER}/{SHARD_PREFIX}{self._next_shard:05d}.npy"
        buffer = io.BytesIO()
        np.save(buffer, np.stack([vector for _, vector in self._shard_rows]).astype(np.float32))
        write_atomically(self.folder / name, buffer.getvalue())
        self.results.append([{"image": result.relative, **result.record, "embedding": {"shard": name, "row": row}}
                             for row, (result, _) in enumerate(self._shard_rows)])
        self._next_shard += 1
        self._shard_rows = []
