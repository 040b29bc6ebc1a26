"""Artifact file names: the one safety check every reader uses, and the hashes the manifest records.

Untrusted folders: every file the manifest names (graph and engine files, external_data lists, the
keys of "files") and every external-data location inside the graphs must be a plain relative name
that resolves, symlinks followed, inside the artifact folder. ``artifact_file(folder, name)`` (and
``Manifest.file_path``) is that check; a failure raises ``UnsafeArtifactPathError`` before anything
is read or loaded.
"""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath, PureWindowsPath

from ..errors import ArtifactIntegrityError, UnsafeArtifactPathError

MANIFEST_FILE = "manifest.json"
REEXPORT_HINT = "re-export it with `beit-export --model MODEL --output FOLDER`"


def _name_problem(name: object) -> str | None:
    """Why ``name`` is not a plain relative file name (forward slashes only), or None when it is one."""
    if not isinstance(name, str):
        return f"is a {type(name).__name__}, not a file name"
    if not name:
        return "is empty"
    if any(ord(char) < 0x20 for char in name):
        return "contains a NUL or control character"
    if "\\" in name:
        return "contains a backslash (use '/' between folders)"
    if PurePosixPath(name).is_absolute() or PureWindowsPath(name).drive or PureWindowsPath(name).is_absolute():
        return "is an absolute path (or has a drive letter)"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return "has an empty, '.' or '..' part"
    return None


def artifact_file(folder: str | Path, name: object, *, what: str = "file") -> Path:
    """The resolved path of the file ``name`` inside the artifact ``folder``; raises UnsafeArtifactPathError
    unless ``name`` is a plain relative name that stays inside the folder once symlinks are followed.

    ``what`` says in the message where the name came from (e.g. "graph 'fp32' file"). The file need not
    exist (callers report missing files with their own error); every part of it that exists is resolved.
    """
    root = Path(folder).resolve()
    problem = _name_problem(name)
    if problem is not None:
        raise UnsafeArtifactPathError(
            f"{what} {name!r} of artifact {root} {problem}; artifact files must be plain relative names inside "
            f"the folder. The manifest was edited or not written by beit-export: {REEXPORT_HINT}"
        )
    assert isinstance(name, str)
    try:
        path = (root / name).resolve()
    except (OSError, RuntimeError) as error:  # a symlink loop
        raise ArtifactIntegrityError(
            f"{what} {name!r} of artifact {root} cannot be resolved ({error}); {REEXPORT_HINT}"
        ) from error
    if not path.is_relative_to(root):
        raise UnsafeArtifactPathError(
            f"{what} {name!r} of artifact {root} resolves to {path}, outside the folder (a symlink leads out); "
            "put the real file inside the artifact folder instead of a link to it, or "
            f"{REEXPORT_HINT}"
        )
    return path


def sha256_of(path: Path, *, chunk_bytes: int = 1 << 22) -> str:
    """The hex sha256 of the file at ``path``, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def regular_file_name(folder: Path, name: str) -> str:
    """``name`` when it is a plain relative name of a regular file inside ``folder`` (no link at all);
    else UnsafeArtifactPathError. A manifest only ever records such names."""
    path = artifact_file(folder, name, what="artifact file")
    if (Path(folder) / name).is_symlink() or path.is_symlink():
        raise UnsafeArtifactPathError(
            f"artifact file {name!r} of {folder} is a symbolic link; artifacts hold real files: copy the file "
            "into the folder instead of linking it"
        )
    return name
