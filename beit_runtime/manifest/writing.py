"""The one writer of ``manifest.json``: the exporter, ``beit-export build-engine`` and the Triton repository
writer all go through here.

Every write is atomic (a temporary file beside it, then a rename), recomputes the ``files`` hashes
from the folder, and is read back with ``load_manifest(verify_files=True)`` before it returns.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

from ..output_files import write_atomically
from .document import ManifestRecord
from .paths import MANIFEST_FILE, artifact_file, regular_file_name, sha256_of
from .reading import Manifest, load_manifest
from .sections import FileRecord


def file_records(folder: Path, names: Iterable[str] | None = None) -> dict[str, FileRecord]:
    """Size and sha256 of ``names`` in ``folder`` (default: every file in it, recursively, but the manifest).

    Links are refused (UnsafeArtifactPathError): an artifact records only regular files inside itself.
    """
    if names is None:
        paths = sorted(p for p in Path(folder).rglob("*") if p.is_file() or p.is_symlink())
        names = [path.relative_to(folder).as_posix() for path in paths]
    records = {}
    for name in names:
        if regular_file_name(folder, name) != MANIFEST_FILE:
            path = artifact_file(folder, name)
            records[name] = FileRecord(sha256=sha256_of(path), bytes=path.stat().st_size)
    return records

def _json_text(record: ManifestRecord) -> str:
    return json.dumps(record.to_json(), indent=2) + "\n"
def write_manifest(folder: str | Path, record: ManifestRecord, *, files: Iterable[str] | None = None) -> Manifest:
    """Write ``record`` as ``folder/manifest.json`` (current schema version), with the ``files`` hashes
    recomputed (``files``: the names to record; default every file in the folder); validate it and return
    it as loaded."""
    folder = Path(folder)
    hashed = replace(record, files=MappingProxyType(file_records(folder, files)))
    write_atomically(folder / MANIFEST_FILE, _json_text(hashed))
    return load_manifest(folder, verify_files=True)

def update_manifest(folder: str | Path, change: Callable[[Manifest], ManifestRecord]) -> Manifest:
    """Rewrite ``folder/manifest.json`` as ``change(current manifest)`` returns it (e.g. ``lambda m: replace(m,
    engines=...)``); the files are re-hashed, so check the folder before changing it (build-engine loads it
    with ``verify_files=True`` first)."""
    folder = Path(folder)
    current = load_manifest(folder, verify_files=False)
    return write_manifest(folder, change(current))

def copy_manifest(manifest: Manifest, folder: str | Path) -> Manifest:
    """Write ``manifest`` into another ``folder`` (e.g. the artifact copy of a Triton python model) as recorded:
    its ``files`` still name every file of the source artifact with its hash, so a copy that holds only some
    of them checks those against the record. Returns it as loaded from there (names checked, files not)."""
    folder = Path(folder)
    write_atomically(folder / MANIFEST_FILE, _json_text(manifest))
    return load_manifest(folder, verify_files=False)
