"""``run_folder``: a folder run on this machine, the engine fed by a pipelined reader.

    from beit_runtime.bulk import BulkOptions, run_folder

    summary = run_folder("artifacts/demo", ["photos/"], options=BulkOptions(output="out/"), batch_size=8)
    print(summary.succeeded, summary.failed)      # summary.all_succeeded: what beit-run's exit code says
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ..manifest import Manifest, load_manifest
from ..model_base import ArtifactModel, task_class
from ..options import RunKeywords, RunOptions
from ..progress import Progress
from ..run_choice import chosen_backend, resolved_options
from .options import BulkOptions
from .processing import BatchProcessor
from .reader import prefetched
from .signals import SigtermRaises
from .walking import ImageItem, chunked, collect_items
from .writers import OutputFolder

if TYPE_CHECKING:
    from typing_extensions import Unpack


class FolderRun(NamedTuple):
    """What a folder run starts from (``prepare_output``)."""

    task_name: str
    items: list[ImageItem]
    output: OutputFolder
    run_options: RunOptions


@dataclass(frozen=True)
class BulkSummary:
    """How a folder run ended: ``images`` in the inputs, ``skipped`` (done by an earlier run), ``succeeded``
    and ``failed`` in this run (failures are listed in OUT/errors.jsonl)."""

    images: int
    skipped: int
    succeeded: int
    failed: int
    output: Path

    @property
    def all_succeeded(self) -> bool:
        return self.failed == 0


def run_settings(manifest: Manifest, *, inputs: Sequence[str | os.PathLike[str]], run_options: RunOptions,
                 options: BulkOptions) -> dict[str, Any]:
    """What a rerun into the same folder must share with the run that made it (written to OUT/run.json,
    ``run_record``): the artifact's files (a re-export at the same path is another model; a copy elsewhere is the
    same one), the inputs (resolved: another folder's ``x.jpg`` is not the ``x.jpg`` done before), the precision
    and backend that run (a plan's choice, not "auto"), and what the results hold."""
    return {"artifact_files": manifest.files_digest, "inputs": sorted({str(Path(path).resolve()) for path in inputs}),
            "task": manifest.task, "precision": run_options.precision,
            "backend": chosen_backend(manifest, run_options)[0], "top_k": options.top_k, "overlays": options.overlays}


def prepare_output(artifact: str | os.PathLike[str], inputs: Sequence[str | os.PathLike[str]], *,
                   options: BulkOptions, run_options: RunOptions) -> FolderRun:
    """Every image of the inputs, the run options with "auto" resolved once, and the output folder opened
    for resuming (and locked: use it in a ``with``). The folders left out of the walk (other runs' outputs,
    evaluation reports) are named on stderr."""
    left_out: list[Path] = []
    items = collect_items(inputs, pattern=options.pattern, output=options.output, left_out=left_out)
    if left_out:
        shown = ", ".join(str(folder) for folder in sorted(left_out)[:3]) + (", ..." if len(left_out) > 3 else "")
        print(f"beit-run: not reading {len(left_out)} folder(s) of beit-run outputs (an earlier folder run's "
              f"--output, or an evaluation report), not photos: {shown}", file=sys.stderr)
    manifest = load_manifest(Path(artifact), verify_files=False)
    run_options, _ = resolved_options(manifest, run_options)
    settings = run_settings(manifest, inputs=inputs, run_options=run_options, options=options)
    output = OutputFolder(Path(options.output), settings=settings, shard_size=options.shard_size,
                          shard_seconds=options.shard_seconds)
    return FolderRun(manifest.task, items, output, run_options)


def run_folder(artifact: str | os.PathLike[str], inputs: Sequence[str | os.PathLike[str]], *,
               options: BulkOptions, run_options: RunOptions | None = None,
               **run_keywords: Unpack[RunKeywords]) -> BulkSummary:
    """Run ``artifact`` over every image of ``inputs`` (folders walked recursively, files as given) into
    ``options.output``, resuming what an earlier run left; run options as ``RunOptions`` or keywords. While
    it runs, SIGTERM raises ``signals.Terminated`` (a KeyboardInterrupt), as Ctrl-C raises KeyboardInterrupt:
    either way the images done are kept, and a rerun goes on."""
    run_options = RunOptions.resolve(run_options, run_keywords, owner="run_folder")
    with SigtermRaises():
        task_name, items, output, run_options = prepare_output(artifact, inputs, options=options,
                                                               run_options=run_options)
        with output:  # locked while the run lasts; what is complete is written however it ends
            todo = output.pending(items)
            progress = Progress(len(todo), mode=options.progress)
            try:
                with task_class(task_name)(Path(artifact), options=run_options) as model:
                    run_items(model, todo, output=output, options=options, progress=progress)
            finally:
                progress.close()
    return BulkSummary(images=len(items), skipped=len(items) - len(todo), succeeded=progress.done - progress.failed,
                       failed=progress.failed, output=Path(options.output))


def run_items(model: ArtifactModel, todo: Sequence[ImageItem], *, output: OutputFolder, options: BulkOptions,
              progress: Progress) -> None:
    """The pipelined loop: batches prepared ahead on reader threads, run by ``model`` here, written in order."""
    processor = BatchProcessor(model, top_k=options.top_k, overlays=options.overlays)
    batches = prefetched(chunked(todo, model.batch_size), processor.prepare,
                         threads=options.reader_threads, depth=options.prefetch_batches)
    for prepared in batches:
        results = processor.complete(prepared)
        progress.advance(len(results), failed=output.write(results))
    output.flush()
