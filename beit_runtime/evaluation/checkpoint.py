"""Where a long evaluation stands, saved after every batch, so a killed or interrupted run goes on from there.

An evaluation of every variant on tens of thousands of labelled images takes hours on a CPU. With a
checkpoint file (``beit-run evaluate --output DIR`` keeps ``DIR/evaluation-state.json``), every batch
ends with the file rewritten atomically (``output_files.write_atomically``): how many samples are done,
the images skipped so far, and per variant its image count, seconds and score accumulators (sums, so
resuming gives the figures an uninterrupted run gives). What the figures are of:
- ``key``: the artifact's file digests and the options that change figures or speeds; a state with
  another key is refused, naming what differs, instead of mixing two runs;
- the samples measured: a digest of the first ``done`` samples (relative names and class ids or mask
  names, not their bytes, so a mask fixed after an error is picked up). A rerun goes on when its own
  list starts with them, so a larger ``--limit`` (or none: ``evaluate.limited``) extends the evaluation; a
  list that differs among them is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..datasets import Sample
from ..datasets.discovery import STATE_FILE as STATE_FILE  # where beit-run evaluate keeps it
from ..errors import InputError
from ..output_files import remove_left_temporaries, write_atomically

if TYPE_CHECKING:
    from .evaluate import VariantResult
    from .scoring import Scorer

FORMAT = "beit-deploy-evaluation-state"
VERSION = 1


class MeasuredPrefix:
    """A running SHA-256 of the first samples of a list (each one's path relative to ``root`` and its class id or
    mask name), extended as the evaluation goes: naming what a state measured costs no rehashing per batch."""

    def __init__(self, samples: Sequence[Sample], *, root: Path) -> None:
        self.samples, self.root = samples, root
        self._hash = hashlib.sha256()
        self._count = 0

    def digest(self, count: int) -> str:
        """The digest of ``samples[:count]``; ``count`` never goes back."""
        if count < self._count or count > len(self.samples):
            raise ValueError(f"a prefix of {count} samples (hashed {self._count} of {len(self.samples)})")
        for sample in self.samples[self._count:count]:
            mask = "" if sample.mask is None else sample.mask.relative_to(self.root).as_posix()
            self._hash.update(os.fsencode(f"{sample.path.relative_to(self.root).as_posix()}\0{sample.target}\0{mask}\n"))
        self._count = count
        return self._hash.hexdigest()


@dataclass
class SavedProgress:
    """What an earlier run measured: ``done`` samples (read or skipped) from the start of the list."""

    done: int
    skipped: list[tuple[str, str]]
    variants: dict[str, dict[str, Any]]  # variant name -> {"images", "seconds", "score"}


class EvaluationCheckpoint:
    """The state file at ``path`` for an evaluation described by ``key`` (JSON-able values) of ``samples`` (paths
    under ``root``)."""

    def __init__(self, path: Path, *, key: Mapping[str, Any], samples: Sequence[Sample], root: Path) -> None:
        self.path = Path(path)
        self.key = json.loads(json.dumps(dict(key)))
        self.measured = MeasuredPrefix(samples, root=root)

    def load(self) -> SavedProgress | None:
        """The saved progress; None when there is no file; InputError when it belongs to another evaluation.
        Temporary files a killed run left beside it are deleted."""
        remove_left_temporaries(self.path)
        if not self.path.is_file():
            return None
        try:
            state = json.loads(self.path.read_text(encoding="utf-8"))
            found, measured = state["key"], str(state["measured"])
            saved = SavedProgress(int(state["done"]), [tuple(pair) for pair in state["skipped"]],
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
        self._check_measured(saved.done, measured)
        return saved

    def _check_measured(self, done: int, measured: str) -> None:
        """InputError unless this run's samples start with the ``done`` an earlier run measured."""
        root, fix = self.measured.root, f"pass the data it measured to go on, or delete {self.path} to start over"
        if done > len(self.measured.samples):
            raise InputError(f"{self.path}: an earlier run measured {done} images of {root}, more than the "
                             f"{len(self.measured.samples)} this run has (a lower --limit, or images removed); {fix}")
        if self.measured.digest(done) != measured:
            raise InputError(f"{self.path}: the first {done} images of {root} are not those an earlier run measured "
                             f"(images added, removed or renamed among them); {fix}")

    def save(self, progress: SavedProgress) -> None:
        state = {"format": FORMAT, "version": VERSION, "key": self.key, "done": progress.done,
                 "measured": self.measured.digest(progress.done),
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
