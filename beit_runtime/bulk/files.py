"""Writing so that a kill at any moment leaves no partial output.

``write_atomically`` writes a hidden temporary file beside the target, fsyncs it and renames it over
the target: the target is either absent, its old content or its whole new content. ``LineFile``
appends JSON lines, each batch of lines in one ``write`` followed by an fsync; a line cut by a kill in
the middle of that write (the kernel may stop a write of several pages) is removed by ``repair``,
which every run calls before reading or appending, so the lines a run reads are whole.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..output_files import is_temporary, write_atomically, write_error


def remove_temporaries(folder: Path) -> int:
    """Delete the temporary files a killed run left under ``folder``; how many there were."""
    removed = 0
    for current, _, names in os.walk(folder):
        for name in names:
            if is_temporary(name):
                (Path(current) / name).unlink(missing_ok=True)
                removed += 1
    return removed


class LineFile:
    """A JSON-lines file that only ever grows by whole lines (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def repair(self) -> None:
        """Cut a last line a kill left without its newline."""
        if not self.path.exists():
            return
        with open(self.path, "rb+") as handle:
            end = handle.seek(0, os.SEEK_END)
            whole = end
            while whole > 0:  # back from the end, a block at a time, to the last newline
                start = max(0, whole - 65536)
                handle.seek(start)
                block = handle.read(whole - start)
                newline = block.rfind(b"\n")
                if newline >= 0:
                    whole = start + newline + 1
                    break
                whole = start
            if whole != end:
                handle.truncate(whole)
                os.fsync(handle.fileno())

    def records(self) -> Iterator[dict[str, Any]]:
        """Every line's JSON object (call ``repair`` first)."""
        if not self.path.exists():
            return
        with open(self.path, "rb") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)

    def append(self, records: Sequence[Mapping[str, Any]]) -> None:
        """``records`` as lines, in one write, then fsync."""
        if not records:
            return
        data = b"".join(json_line(record) for record in records)
        try:
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(descriptor, view):]
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        except OSError as error:  # a line cut short by a full disk is cut off by the next run's ``repair``
            raise write_error(self.path, error) from error

    def replace(self, records: Sequence[Mapping[str, Any]]) -> None:
        """The file's lines replaced by ``records``, atomically."""
        data = b"".join(json_line(record) for record in records)
        write_atomically(self.path, data)


def json_line(record: Mapping[str, Any]) -> bytes:
    """``record`` as one UTF-8 JSON line; a file name that is not UTF-8 (Python keeps its bytes as lone
    surrogates) is written as ``\\udcXX`` escapes, which ``json.loads`` and ``os.fsencode`` turn back."""
    try:
        return json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n"
    except UnicodeEncodeError:
        return json.dumps(record).encode("ascii") + b"\n"
