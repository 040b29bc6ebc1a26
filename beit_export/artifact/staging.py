"""Artifact folders: staged beside the target, moved into place only when complete.

``staged_artifact(output)`` yields an empty hidden folder next to ``output``; the caller writes the
graphs and the manifest there. On success the folder is renamed to ``output`` (a same-filesystem
rename, so readers never see half an artifact); on any exception, KeyboardInterrupt included, it is
deleted and ``output`` is left as it was.

A killed export (SIGKILL, power loss) cannot clean up, so ownership is explicit: each staging folder
``.NAME.partial-<random>`` has a lock file ``.NAME.partial-<random>.lock`` beside it (never inside the
artifact), created *before* the folder and held with ``fcntl.flock`` for the life of the export. The
kernel drops the lock when its process dies, whatever the cause, and a reused PID cannot inherit it.
The next export to the same output removes every staging folder (and every ``.NAME.old-<random>`` folder
of an interrupted overwrite) whose lock it can take, or that has no lock file, and says so once.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from beit_runtime.errors import InputError
from beit_runtime.output_files import checked_folder

from ..errors import ExportError, OutputPathError, OutputWriteError
from .replace import OutputExistsError, check_replaceable


def check_output(output: Path, *, overwrite: bool, inputs: Mapping[str, str | Path | None] | None = None,
                 flag: str = "--output") -> Path:
    """The absolute target path; OutputExistsError when it holds something and ``overwrite`` is off (or is on
    and it is not an earlier output, ``check_replaceable``), OutputPathError when the path is empty, its folder
    cannot be written or ``overwrite`` would delete one of ``inputs`` (flag -> path, e.g. ``{"--model": folder}``).
    Messages name the path as ``flag``."""
    if not str(output).strip():
        raise OutputPathError(f"{flag} is empty; expected a folder path (is the variable that names it unset?)")
    output = Path(output).expanduser().absolute()
    if output.exists() and not output.is_dir():
        raise OutputExistsError(f"{flag} {output} is a file; expected a folder path (it is created)")
    try:
        checked_folder(output.parent, option=f"{flag}'s folder")
    except InputError as error:
        raise OutputPathError(str(error)) from None
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        raise OutputExistsError(
            f"{flag} {output} exists and is not empty; pass --overwrite to replace it or choose another folder"
        )
    if overwrite:
        _check_inputs_survive(output, inputs or {}, flag=flag)
        check_replaceable(output, flag=flag)
    return output


def _check_inputs_survive(output: Path, inputs: Mapping[str, str | Path | None], *, flag: str) -> None:
    """OutputPathError when replacing ``output`` would delete an input folder (the same folder or one inside) or
    part of one (an ``output`` inside an input folder, whether it exists yet or not)."""
    target = output.resolve()
    for name, path in inputs.items():
        source = Path(path).expanduser() if path is not None else None
        if source is None or not source.exists():
            continue
        resolved = source.resolve()
        if resolved == target or target in resolved.parents:
            relation = "is" if resolved == target else "contains"
            raise OutputPathError(
                f"{flag} {output} {relation} the {name} folder {path}: --overwrite would delete it. "
                f"Choose a {flag} outside {name} (nothing was deleted)"
            )
        if resolved in target.parents:  # refused before it exists too, so a second run is never the first refusal
            raise OutputPathError(
                f"{flag} {output} is inside the {name} folder {path}: --overwrite would delete what it holds "
                f"there. Choose a {flag} outside {name} (nothing was deleted)"
            )


def output_error(output: Path, error: OSError) -> ExportError:
    """The typed error for an OSError met while writing the artifact ``output`` (names ``output``, not the
    staging folder): OutputWriteError for a full disk or I/O failure, OutputPathError otherwise."""
    cause = error.strerror or str(error) or type(error).__name__
    if error.errno in _ENVIRONMENT_ERRNOS:
        typed = OutputWriteError(
            f"could not write the artifact {output} ({cause}); no artifact was written. Free space on that disk "
            "(or fix the device) and export again, or choose an --output on another disk"
        )
        typed.errno, typed.strerror, typed.filename = error.errno, error.strerror, str(output)
        return typed
    return OutputPathError(f"--output {output} cannot be written ({cause}): choose a folder you can write to")


_ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG, errno.ENOMEM})
_OCCUPIED_ERRNOS = frozenset({errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR})


@contextmanager
def staged_artifact(output: Path, *, overwrite: bool = False, progress: Callable[[str], None] | None = None,
                    flag: str = "--output") -> Iterator[Path]:
    """Yield a staging folder beside ``output``; move it to ``output`` when the block completes.

    Stale staging folders of killed exports to the same ``output`` are removed first (``progress``
    gets one line naming them).
    """
    output = check_output(output, overwrite=overwrite, flag=flag)
    try:
        removed = remove_stale_staging(output)
        lock_fd, lock_path = _take_new_lock(output)
    except OSError as error:
        raise output_error(output, error) from error
    if removed and progress is not None:
        progress(f"removed {len(removed)} stale staging folder(s) of killed exports: {', '.join(removed)}")
    staging = lock_path.with_name(lock_path.name[: -len(LOCK_SUFFIX)])
    try:
        try:
            staging.mkdir(mode=0o777 & ~_umask())
            yield staging
            _move_into_place(staging, output, overwrite=overwrite, flag=flag)
        except BaseException as error:
            shutil.rmtree(staging, ignore_errors=True)
            if isinstance(error, OSError) and _is_write_failure(error, output):
                raise output_error(output, error) from error
            raise
    finally:
        lock_path.unlink(missing_ok=True)
        os.close(lock_fd)  # releases the flock


LOCK_SUFFIX = ".lock"


def _is_write_failure(error: OSError, output: Path) -> bool:
    """A full disk or failing device, or an error about a path beside ``output`` (the staging folder)."""
    filename = Path(str(error.filename)).absolute() if error.filename else None
    return error.errno in _ENVIRONMENT_ERRNOS or (filename is not None and output.parent in filename.parents)


def _take_new_lock(output: Path) -> tuple[int, Path]:
    """A new ``.NAME.partial-<random>.lock`` file beside ``output``, flock-ed by this process."""
    fd, name = tempfile.mkstemp(prefix=f".{output.name}.partial-", suffix=LOCK_SUFFIX, dir=output.parent)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd, Path(name)


def _owner_is_gone(lock_path: Path) -> bool:
    """True when no live process holds ``lock_path`` (or it does not exist); the lock is not kept."""
    try:
        fd = os.open(lock_path, os.O_RDWR)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def remove_stale_staging(output: Path) -> list[str]:
    """Remove staging / retired folders (and lock files) beside ``output`` that no live export owns."""
    removed = []
    for kind in ("partial", "old"):
        for folder in sorted(output.parent.glob(f".{output.name}.{kind}-*")):
            if folder.name.endswith(LOCK_SUFFIX) or not folder.is_dir():
                continue
            lock_path = folder.with_name(folder.name.replace(f".{kind}-", ".partial-", 1) + LOCK_SUFFIX)
            if _owner_is_gone(lock_path):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder.name)
    for lock_path in output.parent.glob(f".{output.name}.partial-*{LOCK_SUFFIX}"):
        owned = lock_path.with_name(lock_path.name[: -len(LOCK_SUFFIX)])
        if not owned.exists() and _owner_is_gone(lock_path):
            lock_path.unlink(missing_ok=True)
    return removed


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _move_into_place(staging: Path, output: Path, *, overwrite: bool, flag: str) -> None:
    """Rename ``staging`` to ``output``: never onto a non-empty folder that appeared during the export (refused
    without ``overwrite``; with it, replaced only if ``check_replaceable`` accepts it now)."""
    try:
        staging.rename(output)  # replaces an empty folder at most: a non-empty one or a file makes it fail
        return
    except OSError as error:
        if error.errno not in _OCCUPIED_ERRNOS:
            raise
    if not overwrite:
        raise OutputExistsError(
            f"{flag} {output} appeared while this export ran (another export or program wrote it) and is not "
            f"empty: it was left as it is and this export's files were removed. Choose another {flag}, or export "
            "again with --overwrite to replace an earlier artifact there"
        )
    check_replaceable(output, flag=flag)
    retired = staging.with_name(staging.name.replace(".partial-", ".old-", 1))  # owned by the same lock
    output.rename(retired)
    try:
        staging.rename(output)
    except BaseException:
        retired.rename(output)
        raise
    shutil.rmtree(retired, ignore_errors=True)
