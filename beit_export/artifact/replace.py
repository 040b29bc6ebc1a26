"""What ``--overwrite`` may replace: an empty folder, or a folder a beit-export command wrote before.

A folder is an earlier output when it holds the record its command writes at its top: an artifact's
``manifest.json``, a Triton repository's ``repository.json``, or a ``--kubernetes`` build context's
``models/repository.json``, each a JSON object whose ``format`` names beit-deploy's format. Any other
non-empty folder (a project, a notes folder, the current directory reached through an empty variable) is
refused whatever the flags, so ``--overwrite`` never deletes files a user wrote.
"""

from __future__ import annotations

import json
from pathlib import Path

from beit_runtime.manifest import FORMAT_NAME, MANIFEST_FILE
from beit_runtime.serving_protocol import REPOSITORY_FORMAT, REPOSITORY_RECORD

from ..errors import ExportError

# record file -> the ``format`` it holds: an artifact's manifest, a Triton repository's record (at the top of a
# repository, in ``models/`` of a --kubernetes build context)
EARLIER_OUTPUT_RECORDS = {
    MANIFEST_FILE: FORMAT_NAME,
    REPOSITORY_RECORD: REPOSITORY_FORMAT,
    f"models/{REPOSITORY_RECORD}": REPOSITORY_FORMAT,
}
_SHOWN = 4


class OutputExistsError(ExportError):
    """--output names a non-empty folder (or a file) and --overwrite was not given, or --overwrite was given
    and the folder is not an earlier output of beit-export."""


def is_earlier_output(folder: Path) -> bool:
    """True when ``folder`` holds one of ``EARLIER_OUTPUT_RECORDS`` with its format."""
    for name, format_name in EARLIER_OUTPUT_RECORDS.items():
        try:
            record = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("format") == format_name:
            return True
    return False


def check_replaceable(output: Path, *, flag: str = "--output") -> None:
    """OutputExistsError unless ``output`` is missing, an empty folder, or an earlier beit-export output."""
    if not output.exists() and not output.is_symlink():
        return
    if not output.is_dir():
        raise OutputExistsError(f"{flag} {output} is a file; expected a folder path (it is created)")
    held = sorted(path.name + ("/" if path.is_dir() else "") for path in output.iterdir())
    if not held or is_earlier_output(output):
        return
    shown = ", ".join(held[:_SHOWN]) + (f" and {len(held) - _SHOWN} more" if len(held) > _SHOWN else "")
    raise OutputExistsError(
        f"{flag} {output} holds {shown}, and is not an earlier beit-export output (it has no manifest.json or "
        "repository.json): --overwrite replaces only an earlier artifact or an empty folder. Choose a new folder for "
        f"{flag}, or delete {output} yourself if you mean to replace it (nothing was deleted)"
    )
