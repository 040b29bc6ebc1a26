"""Writing so that a kill at any moment leaves no partial output.

``write_atomically`` writes a hidden temporary file beside the target, fsyncs it and renames it over
the target: the target is either absent, its old content or its whole new content. ``LineFile``
appends JSON lines, each batch of lines in one ``write`` followed by an fsync; a line cut by a kill in
the middle of that write (the kernel may stop a write of several pages) is removed by ``repair``,
which every run calls before reading or appending, so the lines a run reads are whole. ``FolderLock``
keeps a second run out of a folder a run is writing (its repair and clean-up would cut the first's files); the
temporaries a killed run left are removed by ``beit_runtime.output_files.remove_abandoned_temporaries``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..output_files import write_atomically, write_error

LOCK_FILE = ".beit-run.lock"


class FolderLock:
    """An exclusive ``flock`` on ``folder/.beit-run.lock`` from ``__init__`` to ``release``, which deletes the
    file; a killed run leaves the file but no lock (the kernel drops it with the process).

    Written by hand rather than with the ``filelock`` package, which is not a dependency: it is one ``flock``
    (which also holds between machines on NFS: Linux maps it to NFS locks), plus the usual check that the
    file locked is still the one at the path, since a run ending deletes it while holding the lock. The file
    says which process holds it, for the error a second run gets."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_FILE
        self._descriptor: int | None = None
        while self._descriptor is None:
            descriptor = self._open()
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(descriptor, 200, 0).decode("utf-8", "replace").strip()
                os.close(descriptor)
                raise InputError(f"another run is writing {folder} ({holder or 'a process'} holds {self.path}): "
                                 "wait for it to end, or pass another --output folder") from None
            if self._still_there(descriptor):
                self._descriptor = descriptor
            else:  # the run that held it ended and deleted it: lock the file at the path now
                os.close(descriptor)
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise write_error(self.path, error) from error

    def _still_there(self, descriptor: int) -> bool:
        try:
            named = os.stat(self.path)
        except FileNotFoundError:
            return False
        held = os.fstat(descriptor)
        return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)

    def release(self) -> None:
        if self._descriptor is not None:
            with contextlib.suppress(OSError):  # while locked: a run that opened this file sees it is gone
                self.path.unlink(missing_ok=True)
            os.close(self._descriptor)  # drops the lock
            self._descriptor = None


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
