"""``beit-run ARTIFACT DIR_OR_FILES... --output OUT``: the folder run of the ``beit-run`` command.

A run is a folder run when a folder is among the inputs, or with ``--ray``: it walks the folders
(recursively, image extensions; ``--glob PATTERN``), writes OUT/results.jsonl, OUT/errors.jsonl and the
per-image files (``beit_runtime.bulk.writers``), resumes into an OUT an earlier run left, shows progress
on stderr, and prints a one-line summary. Files named alone keep ``beit-run``'s printing behaviour
(``--output`` then holds pictures/embeddings named after each file, as before).

Exit codes of a folder run (``beit_runtime.exit_codes``): 0 every image succeeded (or was done before), 1 the
run itself failed (an engine error, OUT not writable), 2 bad usage (an artifact it cannot use as given among
them, as a file run says it: no manifest.json, a manifest it cannot read, a precision it has no graph of, a
file changed since export), 3 the run finished but some images failed (OUT/errors.jsonl), 5 an optional
dependency is missing (the backend asked for, Ray with --ray), 130 interrupted (Ctrl-C: OUT keeps every image
done, and the same command goes on), 143 terminated (SIGTERM, as Kubernetes stops a pod: the same). A second
run into an OUT a run is writing is refused (exit 2). Every option is checked before OUT is made, and an OUT
this run made is removed again when it fails before writing anything (``--ray`` where no cluster answers
leaves no folder behind). ``--quiet``: no progress on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..datasets.discovery import RUN_FILE
from ..errors import ArtifactError, BeitDeployError, ImageError, InputError, OutputWriteError
from ..exit_codes import EXIT_INTERRUPTED, EXIT_OK, EXIT_SOME_FAILED, EXIT_TERMINATED, EXIT_USAGE, failure_exit
from ..manifest import Manifest, load_manifest
from ..options import RunOptions, positive_int, thread_count
from ..output_files import output_folder
from ..run_choice import chosen_backend, resolved_options
from .local import BulkSummary, run_folder
from .options import BulkOptions
from .signals import Terminated

_FILE_RUN_ONLY = {"json": "--json", "side_by_side": "--side-by-side", "attention_maps": "--attention-maps",
                  "overwrite": "--overwrite"}
_FOLDER_RUN_ONLY = {"glob": "--glob", "overlays": "--overlays", "quiet": "--quiet"}


def add_folder_arguments(parser: argparse.ArgumentParser) -> None:
    """The options only folder runs take."""
    group = parser.add_argument_group("folder runs (a folder among the inputs, or --ray; results in --output)")
    group.add_argument("--glob", default=None, metavar="PATTERN",
                       help="only images whose path relative to their folder matches, as the shell's globstar "
                       "reads it ('**/*.jpg' at any depth, top level included; 'raw/*.png'); hidden files and "
                       "folders ('._IMG.jpg', '.cache/') only when a part of it starts with '.'")
    group.add_argument("--overlays", action="store_true",
                       help="segmentation: also write OUT/<path>.overlay.png (colour overlay and legend)")
    group.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                       help="run on Ray Data: a local Ray, or the cluster at ADDRESS (auto, host:6379, ray://...); "
                            "put it after the inputs or write --ray=ADDRESS")
    group.add_argument("--ray-actors", type=int, default=2, help="with --ray: actors, each loading the artifact")
    group.add_argument("--reader-threads", type=int, default=2,
                       help="threads decoding and preprocessing ahead of the engine (default 2)")
    group.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def is_folder_run(args: argparse.Namespace) -> bool:
    return args.ray is not None or any(Path(path).is_dir() for path in args.images)


def _check_flags(args: argparse.Namespace, *, folder_run: bool) -> None:
    wrong = _FILE_RUN_ONLY if folder_run else _FOLDER_RUN_ONLY
    used = [flag for name, flag in wrong.items() if getattr(args, name, None)]
    verb = "applies" if len(used) == 1 else "apply"
    if used and folder_run:
        raise InputError(f"{', '.join(used)} {verb} to image files named alone; a folder run writes "
                         "OUT/results.jsonl and label maps instead")
    if used:
        raise InputError(f"{', '.join(used)} {verb} to folder runs: pass a folder (or --ray) and --output")
    if folder_run and args.output is None:
        raise InputError("a folder run writes its results to a folder: add --output OUT")


def _bulk_options(args: argparse.Namespace) -> BulkOptions:
    """The folder run's options, each checked (InputError naming the flag) before anything is created."""
    top_k = positive_int("--top-k", args.top_k)
    threads = thread_count("--reader-threads", positive_int("--reader-threads", args.reader_threads))
    positive_int("--ray-actors", args.ray_actors)
    if args.glob is not None and not args.glob:
        raise InputError("--glob must be a non-empty pattern, such as '**/*.jpg'")
    return BulkOptions(output=args.output, pattern=args.glob, overlays=args.overlays, top_k=top_k,
                       reader_threads=threads, progress="off" if args.quiet else "auto")


@contextmanager
def _output_folder(path: Path) -> Iterator[Path]:
    """``output_folder`` for --output: created (InputError naming it when it cannot be), and removed again when
    this run created it and fails before any image's output is written (its run.json removed with it)."""
    created = not path.exists()
    with output_folder(path, option="--output"):
        try:
            yield path
        except BaseException:
            if created and [entry.name for entry in path.iterdir() if not entry.name.startswith(".")] == [RUN_FILE]:
                (path / RUN_FILE).unlink()
            raise


def _run(args: argparse.Namespace, manifest: Manifest, options: BulkOptions, run_options: RunOptions) -> BulkSummary:
    if args.verbose:  # as a file run says it, before the first image
        resolved, reason = resolved_options(manifest, run_options)
        print(f"running {chosen_backend(manifest, resolved)[0]} {resolved.precision} ({reason})", file=sys.stderr)
    if args.ray is None:
        return run_folder(args.artifact, args.images, options=options, run_options=run_options)
    from .ray_data import run_on_ray

    return run_on_ray(args.artifact, args.images, options=options, run_options=run_options,
                      address=args.ray or None, actors=args.ray_actors)


def report_error(error: BeitDeployError, *, exit_code: int) -> int:
    """``beit-run: error: ...`` on stderr; ``exit_code``."""
    print(f"beit-run: error: {error}", file=sys.stderr)
    return exit_code


def report_failure(error: BeitDeployError) -> int:
    """``report_error`` of a run that failed: EXIT_DEPENDENCY for a missing optional dependency, else EXIT_ERROR."""
    return report_error(error, exit_code=failure_exit(error))


def run_folder_command(args: argparse.Namespace, *,
                       run_options: Callable[[argparse.Namespace], RunOptions]) -> int | None:
    """The exit code of a folder run; None when ``args`` are not one (the caller runs the files as before).
    ``run_options``: how the command turns its arguments into ``RunOptions``. Bad options, and an artifact
    that cannot be used as given (an ArtifactError: no manifest.json or an unreadable one, found before OUT is
    made; a graph it lacks or a changed file, found as the model loads), are usage errors (EXIT_USAGE)."""
    folder_run = is_folder_run(args)
    try:
        _check_flags(args, folder_run=folder_run)
        if not folder_run:
            return None
        chosen = run_options(args)
        options = _bulk_options(args)
        manifest = load_manifest(Path(args.artifact), verify_files=False)  # the run's files: as the model loads
    except (InputError, ArtifactError) as error:
        return report_error(error, exit_code=EXIT_USAGE)
    try:
        with _output_folder(Path(options.output)):
            summary = _run(args, manifest, options, chosen)
    except ImageError as error:  # an InputError too, but each image's own failure goes to errors.jsonl: not usage
        return report_failure(error)
    # InputError walking the inputs: no image, a clash, another run's folder; ArtifactError as the model loads
    except (InputError, ArtifactError) as error:
        return report_error(error, exit_code=EXIT_USAGE)
    except OutputWriteError as error:
        return report_failure(OutputWriteError(f"{error}; {options.output} keeps every image done before: rerun "
                                               "the same command to go on"))
    except BeitDeployError as error:
        return report_failure(error)
    except KeyboardInterrupt as interrupt:  # Ctrl-C, or SIGTERM (Terminated, from Kubernetes or kill)
        terminated = isinstance(interrupt, Terminated)
        print(f"\nbeit-run: {'terminated' if terminated else 'interrupted'}; {options.output} keeps every image "
              "done: rerun the same command to go on", file=sys.stderr)
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    failed = f", {summary.failed} failed (see {summary.output / 'errors.jsonl'})" if summary.failed else ""
    done = "1 image" if summary.succeeded == 1 else f"{summary.succeeded} images"
    print(f"beit-run: {done} done, {summary.skipped} done before{failed}; "
          f"results in {summary.output}")
    return EXIT_OK if summary.all_succeeded else EXIT_SOME_FAILED
