"""Where outputs go: folders and files checked before any work starts, and written so a kill leaves no half.

``checked_folder`` / ``checked_file`` turn a path a user named for output (``--output``, ``--plan``,
``--report``) into a typed ``InputError`` that names the option, the path and the cause (a file where a
folder is wanted, a read-only or missing parent, no permission) *before* minutes of inference, instead
of an ``OSError`` traceback after it.

``write_atomically`` writes a hidden temporary file beside the target, fsyncs it and renames it over
the target, so the target is either absent, its old content or its whole new content; ``writing_into``
does the same for writers that want a path (``cv2.imwrite``, ``numpy.save``, ``savefig``). Files get the
permissions of a plain ``open`` (the umask's), not ``mkstemp``'s 0600.
"""

from __future__ import annotations

import glob
import os
import secrets
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import InputError, OutputWriteError

TEMP_MARK = ".beit-partial-"


def temporary_name(target: Path) -> Path:
    """The hidden name a write to ``target`` goes through (``is_temporary`` recognises it)."""
    return target.with_name(f".{target.name}{TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}{target.suffix}")


def is_temporary(name: str) -> bool:
    return name.startswith(".") and TEMP_MARK in name


def remove_left_temporaries(target: Path) -> int:
    """Delete the temporaries of ``target`` that a killed process left beside it (those of a process still
    running are kept); how many there were."""
    removed = 0
    prefix = f".{target.name}{TEMP_MARK}"
    for path in target.parent.glob(f"{glob.escape(prefix)}*"):
        writer = path.name[len(prefix):].partition("-")[0]
        if writer.isdigit() and not _running(int(writer)):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@contextmanager
def writing_into(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target`` to write to; renamed over ``target`` when the block ends, removed
    when it raises. The temporary keeps ``target``'s suffix, so writers that pick a format by it still work."""
    temporary = temporary_name(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        yield temporary
        if not temporary.is_file():
            raise OutputWriteError(f"nothing was written to {target}")
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, target)
    except OutputWriteError:
        raise
    except OSError as error:  # named by the target, not the hidden temporary
        raise write_error(target, error) from error
    finally:
        temporary.unlink(missing_ok=True)


def write_atomically(target: Path, data: bytes | str) -> None:
    """``data`` (text is written as UTF-8) at ``target``, through ``writing_into``."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with writing_into(target) as temporary:
        temporary.write_bytes(payload)


def write_with(target: Path, write: Callable[[Path], object]) -> Path:
    """``write(temporary)`` then the rename of ``writing_into``; returns ``target``."""
    with writing_into(target) as temporary:
        write(temporary)
    return target


def checked_folder(path: Path, *, option: str) -> Path:
    """``path`` created if missing; InputError naming ``option`` when it is a file or cannot be written."""
    if path.exists() and not path.is_dir():
        raise InputError(f"{option} {path} is a file, not a folder: name a folder (it is created if missing)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"{option} {path} cannot be created ({_cause(error)}): "
                         "name a folder you can write to") from None
    try:  # a real write: os.access says yes to root even where the file system refuses (/proc, read-only mounts)
        handle, probe = tempfile.mkstemp(prefix=f".{TEMP_MARK}probe-", dir=path)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise InputError(f"{option} {path} is not writable ({_cause(error)}): name a folder you can write to") from None
    return path


def checked_file(path: Path, *, option: str) -> Path:
    """``path``'s folder created if missing; InputError naming ``option`` when ``path`` is a folder, or its
    folder is a file or cannot be written."""
    if path.is_dir():
        raise InputError(f"{option} {path} is a folder: name a file (for example {path / 'out.json'})")
    checked_folder(path.parent, option=f"{option}'s folder")
    return path


def write_error(target: Path, error: OSError) -> OutputWriteError:
    """The typed error for ``error`` met writing ``target``: names the file and the cause, and what to do."""
    if isinstance(error, IsADirectoryError) or target.is_dir():
        fix = "a folder has its name: move that folder away, or choose another output folder"
    else:
        fix = "free space there or choose another output folder"
    typed = OutputWriteError(f"could not write {target} ({_cause(error)}): {fix}")
    typed.errno, typed.strerror, typed.filename = error.errno, error.strerror, str(target)  # as the OSError said
    return typed


def _cause(error: OSError) -> str:
    return error.strerror or type(error).__name__


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
