"""Where outputs go: folders and files checked before any work starts, and written so a kill leaves no half.

``checked_folder`` / ``checked_file`` turn a path a user named for output (``--output``, ``--plan``,
``--report``) into a typed ``InputError`` that names the option, the path and the cause (a file where a
folder is wanted, a read-only or missing parent, no permission) *before* minutes of inference, instead
of an ``OSError`` traceback after it; ``output_folder`` also removes the folders it created again when the run
stops before writing into them.

``write_atomically`` writes a hidden temporary file beside the target, fsyncs it and renames it over
the target, so the target is either absent, its old content or its whole new content; ``writing_into``
does the same for writers that want a path (``cv2.imwrite``, ``numpy.save``, ``savefig``). Files get the
permissions of a plain ``open`` (the umask's), not ``mkstemp``'s 0600.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import secrets
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import InputError, OutputWriteError

TEMP_MARK = ".beit-partial-"


# a temporary carries at most this many bytes of its target's name: with the mark, the writer's pid, a random
# part and the suffix it stays far below the 255 bytes a file name may have, whatever the target's length
NAME_BYTES_KEPT = 64
SUFFIX_BYTES_KEPT = 16  # writers pick the format by the suffix (".png", ".npy"); a longer "suffix" is not one


def temporary_name(target: Path) -> Path:
    """The hidden name a write to ``target`` goes through (``is_temporary`` recognises it): the start of the
    target's name, the mark, the writing process's pid, a random part and the target's suffix."""
    suffix = target.suffix if len(os.fsencode(target.suffix)) <= SUFFIX_BYTES_KEPT else ""
    return target.with_name(f"{_temporary_prefix(target.name)}{os.getpid()}-{secrets.token_hex(4)}{suffix}")


def _temporary_prefix(name: str) -> str:
    """".<name, cut to NAME_BYTES_KEPT bytes at a character boundary>.beit-partial-"."""
    kept = name[:NAME_BYTES_KEPT]
    while len(os.fsencode(kept)) > NAME_BYTES_KEPT:
        kept = kept[:-1]
    return f".{kept}{TEMP_MARK}"


def is_temporary(name: str) -> bool:
    return name.startswith(".") and TEMP_MARK in name


def remove_left_temporaries(target: Path) -> int:
    """Delete the temporaries of ``target`` that a killed process left beside it (those of a process still
    running are kept); how many there were. A long name's temporaries carry only its start, so those of a
    sibling with the same start may go too: a dead writer's temporaries are garbage whoever's they are."""
    removed = 0
    # the cut prefix, and the whole name's as older versions wrote it
    for prefix in dict.fromkeys((_temporary_prefix(target.name), f".{target.name}{TEMP_MARK}")):
        for path in target.parent.glob(f"{glob.escape(prefix)}*"):
            if not _writer_running(path.name):
                path.unlink(missing_ok=True)
                removed += 1
    return removed


def remove_abandoned_temporaries(folder: Path) -> int:
    """Delete the temporaries under ``folder`` (all its subfolders) whose writer is no longer running, as
    ``remove_left_temporaries`` does beside one target; how many there were. Those of a running process (another
    command writing into the same folder) are kept; one that names no writer (``checked_folder``'s write probe,
    which lives only a moment) is removed."""
    removed = 0
    for current, _, names in os.walk(folder):
        for name in names:
            if is_temporary(name) and not _writer_running(name):
                (Path(current) / name).unlink(missing_ok=True)
                removed += 1
    return removed


def _writer_running(name: str) -> bool:
    """Whether the process a temporary's name holds (after the mark: ``PID-RANDOM``) is running."""
    writer = name.rpartition(TEMP_MARK)[2].partition("-")[0]
    return writer.isdigit() and _running(int(writer))


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
    finally:  # an unlink that fails (its folder gone) must not hide why the write failed; a rerun removes it
        with contextlib.suppress(OSError):
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
        with contextlib.suppress(FileNotFoundError):  # a run already writing there clears temporaries
            os.unlink(probe)
    except OSError as error:
        raise InputError(f"{option} {path} is not writable ({_cause(error)}): name a folder you can write to") from None
    return path


@contextmanager
def output_folder(path: Path, *, option: str) -> Iterator[Path]:
    """``checked_folder(path)`` for the block; when the block raises, the folders this call created are removed
    again if still empty, so a run stopped before its first write leaves no folder behind."""
    created = _missing_folders(path)
    checked_folder(path, option=option)
    try:
        yield path
    except BaseException:
        for folder in created:  # deepest first; rmdir removes only an empty folder
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def _missing_folders(path: Path) -> list[Path]:
    """``path`` and those of its parents that do not exist yet, deepest first."""
    missing, current = [], path.absolute()
    while not (current.exists() or current.is_symlink()) and current != current.parent:
        missing.append(current)
        current = current.parent
    return missing


def checked_file(path: Path, *, option: str) -> Path:
    """``path``'s folder created if missing; InputError naming ``option`` when ``path`` is a folder, or its
    folder is a file or cannot be written."""
    if path.is_dir():
        raise InputError(f"{option} {path} is a folder: name a file (for example {path / 'out.json'})")
    checked_folder(path.parent, option=f"{option}'s folder")
    return path


def write_error(target: Path, error: OSError) -> OutputWriteError:
    """The typed error for ``error`` met writing ``target``: names the file and the cause, and what to do."""
    typed = OutputWriteError(f"could not write {target} ({_cause(error)}): {_write_fix(target, error)}")
    typed.errno, typed.strerror, typed.filename = error.errno, error.strerror, str(target)  # as the OSError said
    return typed


def _write_fix(target: Path, error: OSError) -> str:
    """What to do about ``error``: free space only when space (or a quota) is what ran out."""
    if isinstance(error, IsADirectoryError) or _is_folder(target):
        return "a folder has its name: move that folder away, or choose another output folder"
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return "free space there or choose another output folder"
    if error.errno == errno.EFBIG:
        return "larger than the file system or the file size limit (ulimit -f) allows: choose another output folder"
    if error.errno == errno.ENAMETOOLONG:
        return "the name is longer than the file system allows: shorten it, or choose a shorter output path"
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "make it writable, or choose another output folder"
    if error.errno == errno.ENOENT:
        return "its folder was removed while writing: keep it in place, or choose another output folder"
    return "fix that, or choose another output folder"


def _is_folder(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a name too long to look up (Path.is_dir raises that one)
        return False


def _cause(error: OSError) -> str:
    return error.strerror or type(error).__name__


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
