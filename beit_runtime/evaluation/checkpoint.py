"""Where a long evaluation stands, saved after every batch, so a killed or interrupted run goes on from there.

An evaluation of every variant on tens of thousands of labelled images takes hours on a CPU. With a
checkpoint file (``beit-run evaluate --output DIR`` keeps ``DIR/evaluation-state.json``), every batch
ends with the file rewritten atomically (``output_files.write_atomically``): how many samples are done,
the images skipped so far, and per variant its image count, seconds and score accumulators (sums, so
resuming gives the figures an uninterrupted run gives). ``key`` says what the figures are of: the
artifact's file digests, the data set's sample list (relative names and class ids or mask names, not
their bytes, so a mask fixed after an error is picked up), and the options that change figures or
speeds. A file made with another key is refused, naming what differs, instead of mixing two runs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..datasets import Sample
from ..errors import InputError
from ..output_files import remove_left_temporaries, write_atomically

if TYPE_CHECKING:
    from .evaluate import VariantResult
    from .scoring import Scorer

STATE_FILE = "evaluation-state.json"
FORMAT = "beit-deploy-evaluation-state"
VERSION = 1


def sample_list_digest(samples: Sequence[Sample], *, root: Path) -> str:
    """SHA-256 over each sample's path relative to ``root`` and its class id or mask name, in order."""
    digest = hashlib.sha256()
    for sample in samples:
        mask = "" if sample.mask is None else sample.mask.relative_to(root).as_posix()
        digest.update(f"{sample.path.relative_to(root).as_posix()}\0{sample.target}\0{mask}\n".encode())
    return digest.hexdigest()


@dataclass
class SavedProgress:
    """What an earlier run measured: ``done`` samples (read or skipped) from the start of the list."""

    done: int
    skipped: list[tuple[str, str]]
    variants: dict[str, dict[str, Any]]  # variant name -> {"images", "seconds", "score"}


class EvaluationCheckpoint:
    """The state file at ``path`` for an evaluation described by ``key`` (JSON-able values)."""

    def __init__(self, path: Path, *, key: Mapping[str, Any]) -> None:
        self.path = Path(path)
        self.key = json.loads(json.dumps(dict(key)))

    def load(self) -> SavedProgress | None:
        """The saved progress; None when there is no file; InputError when it belongs to another evaluation.
        Temporary files a killed run left beside it are deleted."""
        remove_left_temporaries(self.path)
        if not self.path.is_file():
            return None
        try:
            state = json.loads(self.path.read_text(encoding="utf-8"))
            found, saved = state["key"], SavedProgress(int(state["done"]), [tuple(pair) for pair in state["skipped"]],
                                                       dict(state["variants"]))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise InputError(f"{self.path} is not an evaluation state beit-run wrote ({error}); delete it to "
                             "start over") from None
        if state.get("format") != FORMAT or state.get("version") != VERSION:
            raise InputError(f"{self.path} is not a version-{VERSION} evaluation state; delete it to start over")
        changed = sorted(name for name in set(found) | set(self.key) if found.get(name) != self.key.get(name))
        if changed:
            details = ", ".join(f"{name}: {_short(found.get(name))} then, {_short(self.key.get(name))} now"
                                for name in changed)
            raise InputError(f"{self.path} holds an evaluation with other settings ({details}); rerun with the same "
                             "artifact, data and options to go on, delete the file to start over, or pass another "
                             "--output folder")
        return saved

    def save(self, progress: SavedProgress) -> None:
        state = {"format": FORMAT, "version": VERSION, "key": self.key, "done": progress.done,
                 "skipped": [list(pair) for pair in progress.skipped], "variants": progress.variants}
        write_atomically(self.path, json.dumps(state, indent=1) + "\n")

    def resume(self, scorer: Scorer, results: Sequence[VariantResult]) -> tuple[int, list[tuple[str, str]]]:
        """(samples done, images skipped) of the earlier run, its counts restored into ``scorer`` and ``results``;
        (0, []) when there was none."""
        saved = self.load()
        if saved is None:
            return 0, []
        try:
            for result in results:
                entry = saved.variants.get(result.variant.name)
                if entry is None:
                    continue
                result.images, result.seconds = int(entry["images"]), float(entry["seconds"])
                if entry["score"] is not None:
                    scorer.restore(result.variant, entry["score"])
        except (KeyError, TypeError, ValueError) as error:
            raise InputError(f"{self.path} holds damaged figures ({error!r}); delete it to start over") from None
        return saved.done, saved.skipped

    def record(self, *, done: int, skipped: list[tuple[str, str]], scorer: Scorer,
               results: Sequence[VariantResult]) -> None:
        variants = {result.variant.name: {"images": result.images, "seconds": result.seconds,
                                          "score": scorer.state(result.variant)}
                    for result in results if not result.unavailable}
        self.save(SavedProgress(done, skipped, variants))


def _short(value: Any) -> str:
    """A key value as an error shows it: digests cut to 12 characters."""
    text = repr(value)
    return f"{text[:13]}...'" if isinstance(value, str) and len(value) == 64 else text
