"""``run_on_ray``: the same folder run on Ray Data, on a laptop or a cluster (``pip install "beit-deploy[ray]"``).

    from beit_runtime.bulk import BulkOptions, run_on_ray

    summary = run_on_ray("artifacts/demo", ["/shared/photos"], options=BulkOptions(output="out/"),
                         address="auto", actors=4, batch_size=8)

The driver (this process) walks the inputs, skips what the output folder already holds, and hands the
rest to Ray Data as a list of files: ``map_batches`` runs an actor pool of ``RayBatchActor``s, each of
which loads the artifact once (one task class instance) and decodes, preprocesses and runs its batches
with the very code of the local run (``processing.BatchProcessor``). Results come back in input order
and the driver writes them with the same writers as the local run, so the output folder, its resuming
and its results are the same. The images and the artifact are read by the actors: on a cluster of
several machines they must be at the same paths on every node (shared storage).
"""

from __future__ import annotations

import dataclasses
import os
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import BackendUnavailableError, missing_extra
from ..model_base import ArtifactModel, task_class
from ..options import RunKeywords, RunOptions, positive_int
from ..progress import Progress
from .local import BulkSummary, prepare_output
from .options import BulkOptions
from .processing import BatchProcessor
from .ray_connection import LOST_WORKER_ERRORS, connect, lost_worker_error, ray_data_console_quiet
from .results import ImageResult
from .signals import SigtermRaises
from .walking import ImageItem
from .writers import OutputFolder

if TYPE_CHECKING:
    from typing_extensions import Unpack


class RayBatchActor:
    """One actor of the pool: loads the artifact once, then turns batches of file names into results."""

    def __init__(self, *, artifact: str, task_name: str, run_options: RunOptions, top_k: int, overlays: bool) -> None:
        self.model: ArtifactModel = task_class(task_name)(artifact, options=run_options)
        self.processor = BatchProcessor(self.model, top_k=top_k, overlays=overlays)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        items = [ImageItem(Path(str(path)), str(relative))
                 for path, relative in zip(batch["path"], batch["relative"], strict=True)]
        shown = {str(relative): (str(path), str(given))
                 for path, relative, given in zip(batch["path"], batch["relative"], batch["shown"], strict=True)}
        results = [_as_given(result, *shown[result.relative]) for result in self.processor.process(items)]
        return {"result": np.array([pickle.dumps(result) for result in results], dtype=object)}


def _as_given(result: ImageResult, path: str, given: str) -> ImageResult:
    """``result`` with its failure's reason naming the image as the command was given it (a relative path stays
    relative), not by the absolute path the actor read: errors.jsonl is the same as a local run's."""
    if result.error is None or path == given:
        return result
    kind, reason = result.error
    return dataclasses.replace(result, error=(kind, reason.replace(path, given)))


def _import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as error:
        raise BackendUnavailableError(
            f"{missing_extra('Ray Data', 'ray', needed_by='--ray / run_on_ray')} ({error})"
        ) from error
    return ray


def run_on_ray(artifact: str | os.PathLike[str], inputs: Sequence[str | os.PathLike[str]], *,
               options: BulkOptions, run_options: RunOptions | None = None, address: str | None = None,
               actors: int = 2, actor_cpus: float = 1.0,
               **run_keywords: Unpack[RunKeywords]) -> BulkSummary:
    """``run_folder``'s job on Ray Data with ``actors`` actors of ``actor_cpus`` CPUs each; ``address``: the
    cluster ("auto", "ray://host:10001", "host:6379"; None: a local Ray). Uses the connection when Ray is
    already initialised, else connects and disconnects at the end. SIGTERM raises ``signals.Terminated``
    while it runs, as in ``run_folder`` (in place of Ray's handler, which would exit without writing the
    embeddings waiting for a shard)."""
    run_options = RunOptions.resolve(run_options, run_keywords, owner="run_on_ray")
    actors = positive_int("actors", actors)
    ray = _import_ray()
    joined = connect(ray, address) if address else False  # a cluster named but absent: nothing written to OUT
    with SigtermRaises() as sigterm:  # after ray.init, which sets its own
        try:
            folder_run = prepare_output(artifact, inputs, options=options, run_options=run_options)
        except BaseException:
            _disconnect(ray, joined)
            raise
        actor_kwargs = {"artifact": str(Path(artifact).resolve()), "task_name": folder_run.task_name,
                        "run_options": folder_run.run_options, "top_k": options.top_k, "overlays": options.overlays}
        with folder_run.output as output:  # locked while the run lasts; what is complete is written however it ends
            todo = output.pending(folder_run.items)
            progress = Progress(len(todo), mode=options.progress)
            started = joined or (connect(ray, None) if todo else False)  # a local Ray only when there is work
            sigterm.reinstall()  # a local ray.init just set Ray's
            with ray_data_console_quiet():  # until disconnected: Ray's notices of a lost worker come late
                try:
                    if todo:
                        _stream_results(ray, todo, output=output, progress=progress, actor_kwargs=actor_kwargs,
                                        batch_size=folder_run.run_options.batch_size, actors=actors,
                                        actor_cpus=actor_cpus)
                finally:
                    progress.close()
                    _disconnect(ray, started)
    items = folder_run.items
    return BulkSummary(images=len(items), skipped=len(items) - len(todo), succeeded=progress.done - progress.failed,
                       failed=progress.failed, output=Path(options.output))


def _no_restarts() -> dict[str, int]:
    """Each actor's remote arguments: never restarted, no task retried (see ``_stream_results``)."""
    return {"max_restarts": 0, "max_task_retries": 0}


def _disconnect(ray: Any, started: bool) -> None:
    if started:
        ray.shutdown()


def _stream_results(ray: Any, todo: Sequence[ImageItem], *, output: OutputFolder, progress: Progress,
                    actor_kwargs: dict[str, Any], batch_size: int, actors: int, actor_cpus: float) -> None:
    """Ray Data: the file list -> map_batches on the actor pool -> results written here, in input order. Actors
    are not restarted (``max_restarts=0``): a restarted actor of a node that is gone waits forever for its CPUs and
    the run hung silently; an actor or node lost ends the run with one line instead, and a rerun goes on."""
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    rows = [{"path": os.path.abspath(item.path), "relative": item.relative, "shown": str(item.path)} for item in todo]
    files = ray.data.from_items(rows,
                                override_num_blocks=max(1, min(len(todo) // batch_size, 4 * actors * 8)))
    lost = tuple(getattr(ray.exceptions, name) for name in LOST_WORKER_ERRORS)
    try:
        results = files.map_batches(RayBatchActor, fn_constructor_kwargs=actor_kwargs, batch_size=batch_size,
                                    batch_format="numpy", num_cpus=actor_cpus, ray_remote_args_fn=_no_restarts,
                                    compute=ray.data.ActorPoolStrategy(size=actors))
        for batch in results.iter_batches(batch_size=None, batch_format="numpy"):
            written = [pickle.loads(blob) for blob in batch["result"]]
            progress.advance(len(written), failed=output.write(written))
    except lost as error:
        raise lost_worker_error(error, output=output.folder) from error
