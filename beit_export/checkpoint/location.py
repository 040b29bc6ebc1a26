"""Where ``--model`` points, found without importing torch: a local folder, a shipped demo, a preset, or a
hub snapshot (downloaded and cached).

``locate_checkpoint`` does every step of loading that can fail on the name alone (no such folder, a file
instead of a folder, an unknown hub repository or revision, offline with nothing cached, an unknown preset),
so the command line answers those in well under a second; ``loading.load_located`` builds the model from
what it found.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelLoadError
from . import presets
from .hub import download_checkpoint


@dataclass(frozen=True)
class CheckpointLocation:
    """What ``--model`` resolved to: ``folder`` (local or hub snapshot) or ``preset`` (with ``random_init``)."""

    model: str
    random_init: bool = False
    folder: Path | None = None
    preset: presets.Preset | None = None
    revision: str | None = None  # the commit a hub revision resolved to; None for local folders and presets


def locate_checkpoint(model: str, *, random_init: bool = False, revision: str | None = None) -> CheckpointLocation:
    """Find ``model`` (folder, demo id, hub id, or preset id with ``random_init``); ModelLoadError naming the fix."""
    folder = _local_folder(model)
    if folder is not None and revision is not None:
        raise ModelLoadError(f"--revision {revision} picks a commit of a hub repository; --model {model} is a local "
                             "folder: drop --revision")
    if folder is not None:
        return CheckpointLocation(model, random_init=random_init, folder=folder)
    if random_init and revision is None and presets.has_preset(model):  # a revision asks for the hub's config
        return CheckpointLocation(model, random_init=True, preset=presets.load_preset(model))
    try:
        folder, commit = download_checkpoint(model, revision=revision, weights=not random_init)
    except ModelLoadError as error:
        if not random_init:
            raise
        raise ModelLoadError(_random_init_hub_failure(model, revision, error)) from error
    return CheckpointLocation(model, random_init=random_init, folder=folder, revision=commit)


def _random_init_hub_failure(model: str, revision: str | None, error: ModelLoadError) -> str:
    if revision is not None and presets.has_preset(model):
        return (f"--random-init --revision {revision}: config.json of {model} at that revision must come from the "
                f"hub, which failed: {error}. Drop --revision to build the built-in preset of {model}")
    return (f"--random-init: {model!r} has no built-in preset (presets: {', '.join(presets.preset_names())}), so its "
            f"config.json must come from the hub, which failed: {error}")


def _local_folder(model: str) -> Path | None:
    """The folder ``model`` names, None when it is not a path (then it is a hub id or preset id).

    ``beit-deploy/demo-segmentation`` and ``beit-deploy/demo-classification`` name the demo checkpoints
    shipped inside the package.
    """
    from ..demo import DEMO_CHECKPOINTS, checkpoint_dir

    if model in DEMO_CHECKPOINTS:
        return checkpoint_dir(model)
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise ModelLoadError(f"--model {model} is a file; expected a Hugging Face model folder or a hub id")
    _check_mistyped_path(model)
    if not _looks_like_hub_id(model):
        raise ModelLoadError(
            f"--model {model}: no such folder. Expected a local Hugging Face folder (config.json + weights), "
            "a hub id such as microsoft/beit-base-patch16-224, or a preset id with --random-init"
        )
    return None


def _check_mistyped_path(model: str) -> None:
    """ModelLoadError for a relative ``a/b`` whose first part is a local folder: a mistyped path (naming the
    close matches in the deepest folder that exists), not a hub id to look up over the network."""
    first = model.split("/", 1)[0]
    if "/" not in model or not first or not Path(first).is_dir():
        return
    parent, missing = Path(first), model.split("/")[1:]
    while missing and (parent / missing[0]).is_dir():
        parent, missing = parent / missing[0], missing[1:]
    names = sorted(entry.name for entry in parent.iterdir() if entry.is_dir()) if missing else []
    close = [str(parent / name) for name in difflib.get_close_matches(missing[0], names, n=3)] if missing else []
    hint = f" Did you mean {' or '.join(close)}?" if close else ""
    raise ModelLoadError(
        f"--model {model}: no such folder ({first}/ is a folder here, so --model is read as a path, not a hub "
        f"id).{hint} Pass an existing Hugging Face folder (config.json + weights), or run from another folder to "
        "use the hub repository of that name"
    )


def _looks_like_hub_id(model: str) -> bool:
    parts = model.split("/")
    if model.startswith((".", "/", "~")) or model.endswith("/") or len(parts) > 2 or os.sep in model.replace("/", ""):
        return False
    return all(parts) and all(c.isalnum() or c in "-_." for c in model.replace("/", ""))
