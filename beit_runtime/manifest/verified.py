"""A cache of verified file digests: an unchanged file is not read again to check its sha256.

``load_manifest(verify_files=True)`` hashes every file an artifact names (344 MB for BEiT-base). The
digest of a file is recorded here, keyed by what changes whenever its content can have changed: the
resolved path, size, ``mtime_ns``, inode, device and ``ctime_ns`` (the kernel sets ``ctime`` on every
write and on every ``utime``, so it cannot be put back by hand). A record that matches the file's stat
answers without reading the file; anything else is hashed again and recorded.

Where: ``cache_root()``: ``$BEIT_DEPLOY_CACHE`` or ``$XDG_CACHE_HOME/beit-deploy`` or
``~/.cache/beit-deploy`` (``BEIT_DEPLOY_CACHE=off`` turns every beit-deploy cache off), then
``verified/``, one small JSON file per path, written atomically (temporary file + rename). An unwritable
cache only means files are hashed every time. The cache is trusted like the user's home folder: whoever
can write it can make a changed file pass the check.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ..output_files import write_atomically
from .paths import sha256_of

CACHE_VARIABLE = "BEIT_DEPLOY_CACHE"
CACHE_OFF = "off"
_FOLDER = "verified"


def cache_home() -> Path:
    """``$BEIT_DEPLOY_CACHE`` or ``$XDG_CACHE_HOME/beit-deploy`` or ``~/.cache/beit-deploy`` (``off`` ignored: plans
    are kept there even when the caches are off)."""
    chosen = os.environ.get(CACHE_VARIABLE)
    base = chosen if chosen and chosen != CACHE_OFF else os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "beit-deploy")
    return Path(base).absolute()


def cache_root() -> Path | None:
    """The beit-deploy cache folder (it may not exist yet); None when ``$BEIT_DEPLOY_CACHE`` is ``off``."""
    return None if os.environ.get(CACHE_VARIABLE) == CACHE_OFF else cache_home()


def _identity(path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "inode": stat.st_ino,
            "device": stat.st_dev, "ctime_ns": stat.st_ctime_ns}


def _record_path(root: Path, path: Path) -> Path:
    return root / _FOLDER / f"{hashlib.sha256(str(path).encode('utf-8')).hexdigest()[:32]}.json"


def _recorded(record_path: Path, identity: dict[str, Any]) -> str | None:
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(record, dict) or record.get("file") != identity:
        return None
    digest = record.get("sha256")
    return digest if isinstance(digest, str) and len(digest) == 64 else None


def verified_sha256(path: str | Path, *, root: Path | None = None) -> str:
    """The hex sha256 of the file at ``path``: from the record when the file is unchanged, else read and
    recorded. ``root``: the cache folder (default ``cache_root()``; no caching when that is None)."""
    path = Path(path).resolve()
    root = cache_root() if root is None else root
    if root is None:
        return sha256_of(path)
    identity = _identity(path)
    record_path = _record_path(root, path)
    digest = _recorded(record_path, identity)
    if digest is not None:
        return digest
    digest = sha256_of(path)
    if _identity(path) == identity:  # not changed while it was read
        with contextlib.suppress(OSError):  # an unwritable cache: the file is hashed again next time
            write_atomically(record_path, json.dumps({"file": identity, "sha256": digest}))
    return digest
