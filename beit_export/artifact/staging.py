"""Artifact folders: staged beside the target, moved into place only when complete.

``staged_artifact(output)`` yields an empty hidden folder next to ``output``; the caller writes the
graphs and the manifest there. On success the folder is renamed to ``output`` (a same-filesystem
rename, so readers never see half an artifact); on any exception, KeyboardInterrupt included, it is
deleted and ``output`` is left as it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import ExportError


class OutputExistsError(ExportError):
    """--output names a non-empty folder (or a file) and --overwrite was not given."""


def check_output(output: Path, *, overwrite: bool) -> Path:
    """The absolute target path; OutputExistsError when it holds something and ``overwrite`` is off."""
    output = Path(output).expanduser().absolute()
    if output.exists() and not output.is_dir():
        raise OutputExistsError(f"--output {output} is a file; expected a folder path (it is created)")
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        raise OutputExistsError(
            f"--output {output} exists and is not empty; pass --overwrite to replace it or choose another folder"
        )
    return output


@contextmanager
def staged_artifact(output: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a staging folder beside ``output``; move it to ``output`` when the block completes."""
    output = check_output(output, overwrite=overwrite)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.partial-", dir=output.parent))
    staging.chmod(0o777 & ~_umask())  # mkdtemp makes it private; an artifact is an ordinary folder
    try:
        yield staging
        _move_into_place(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _move_into_place(staging: Path, output: Path) -> None:
    if not output.exists():
        staging.rename(output)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{output.name}.old-", dir=output.parent))
    retired.rmdir()
    output.rename(retired)
    try:
        staging.rename(output)
    except BaseException:
        retired.rename(output)
        raise
    shutil.rmtree(retired, ignore_errors=True)
