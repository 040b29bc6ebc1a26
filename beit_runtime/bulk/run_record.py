"""OUT/run.json: which run an output folder belongs to, checked before a run writes anything there.

The first run into a folder writes run.json (``local.run_settings``: the artifact's files, the inputs, the
precision and backend, what the results hold). A rerun with the same settings resumes; one with other settings
would mix two runs' results under one name, so it is refused, naming what differs, unless the folder holds no
result yet: then it is taken over (run.json rewritten, the old run's errors.jsonl dropped). A folder with no
run.json that already holds files is not a folder run's output: its files could be replaced by outputs of the
same names (a photo ``x.jpg.png`` by a label map), so it is refused too. Hidden files (the lock, temporaries,
macOS's ``.DS_Store``) do not count; nor does a folder with results.jsonl or errors.jsonl but no run.json (an
output folder whose run.json was deleted), which is taken as this run's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..datasets.discovery import ERRORS_FILE, RESULTS_FILE, RUN_FILE
from ..errors import InputError
from ..output_files import write_atomically

SHOWN_FILES = 3  # files named when a folder is refused for holding some


def check_run_record(folder: Path, settings: Mapping[str, Any]) -> None:
    """Write ``folder``/run.json for a new run, or check that the run recorded there is ``settings``' (see the
    module docstring); InputError when the folder belongs to another run or to no run."""
    path = folder / RUN_FILE
    wanted = json.loads(json.dumps(dict(settings)))
    if not path.exists():
        _check_holds_nothing(folder)
        _write(path, wanted)
        return
    found = json.loads(path.read_text(encoding="utf-8"))
    changed = sorted(key for key in wanted if key in found and found[key] != wanted[key])
    if changed and _has_results(folder):
        details = "; ".join(_difference(key, found[key], wanted[key]) for key in changed)
        raise InputError(f"{folder} holds the results of a run with other settings ({details}): rerun with the same "
                         "inputs and settings to resume, or pass another --output folder")
    if changed:  # nothing done under the old settings: the folder is this run's now
        (folder / ERRORS_FILE).unlink(missing_ok=True)
    if changed or set(wanted) - set(found):  # a run.json of an older version lacks what is recorded now
        _write(path, wanted if changed else {**found, **wanted})


def _write(path: Path, settings: Mapping[str, Any]) -> None:
    write_atomically(path, (json.dumps(settings, indent=2) + "\n").encode("utf-8"))


def _check_holds_nothing(folder: Path) -> None:
    if (folder / RESULTS_FILE).is_file() or (folder / ERRORS_FILE).is_file():
        return  # a folder run's output whose run.json was deleted
    held = sorted(entry.name for entry in folder.iterdir() if not entry.name.startswith("."))
    if held:
        shown = ", ".join(held[:SHOWN_FILES]) + (", ..." if len(held) > SHOWN_FILES else "")
        raise InputError(f"--output {folder} already holds files ({shown}) and is not a folder run's output (no "
                         f"{RUN_FILE}): the run's outputs could replace them; pass a new or empty folder")


def _has_results(folder: Path) -> bool:
    """Whether results.jsonl holds a whole line (a line a kill cut short is not a result)."""
    try:
        with open(folder / RESULTS_FILE, "rb") as handle:
            return any(b"\n" in block for block in iter(lambda: handle.read(65536), b""))
    except FileNotFoundError:
        return False


def _difference(key: str, then: Any, now: Any) -> str:
    if key == "artifact_files":
        return "a different artifact: its files changed"
    if key == "inputs":
        return f"other inputs: {', '.join(then)} then, {', '.join(now)} now"
    return f"{key}: {then!r} then, {now!r} now"
