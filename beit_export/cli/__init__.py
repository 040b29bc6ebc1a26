"""``beit-export``: the command line of the exporter.

    beit-export --model MODEL [--random-init] [--task TASK] [--output DIR] [--fp16] [--int8]
                [--tensorrt] [--dynamic-resolution] [--opset 18] [--revision REV] [--overwrite]
    beit-export build-engine ARTIFACT [--graph fp16] [--min-batch 1] [--opt-batch 8] [--max-batch 32]
    beit-export triton ARTIFACT --output REPO [--model-backend onnxruntime|tensorrt|python] [--name NAME] ...

Each subcommand is a module of this package with ``build_parser()`` and ``run(args)``. Exit codes
(``beit_runtime.exit_codes``): 0 success, 2 usage error or unusable --model/--output, 3 parity failure, 4 graph
check failure (including TensorRT incompatibility), 5 missing optional dependency (TensorRT, CUDA, a module of an
extra: the error names the ``pip install "beit-deploy[EXTRA]"`` that installs it), 1 any other export error, 130
interrupted.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Sequence

from beit_runtime.errors import (
    ArtifactError,
    BeitDeployError,
    DatasetError,
    ImageError,
    InputError,
    missing_module_message,
)
from beit_runtime.exit_codes import (
    EXIT_ERROR,
    EXIT_GRAPH,
    EXIT_INTERRUPTED,
    EXIT_PARITY,
    EXIT_USAGE,
    failure_exit,
)

from ..artifact import OutputExistsError
from ..errors import GraphCheckError, ModelLoadError, OutputPathError, ParityError, UnsupportedCheckpointError
from . import build_engine, export, triton
from .common import PROG, parse, silence_library_noise

SUBCOMMANDS = {"build-engine": build_engine, "triton": triton}


def exit_code(error: BaseException) -> int:
    """The exit code an error maps to (see the module docstring)."""
    from ..options import ExportOptionsError

    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, ParityError):
        return EXIT_PARITY
    if isinstance(error, GraphCheckError):
        return EXIT_GRAPH
    if isinstance(error, ImageError):  # an InputError too, but an image the export failed on is not bad usage
        return failure_exit(error)
    usage = (ModelLoadError, UnsupportedCheckpointError, ArtifactError, OutputExistsError, OutputPathError,
             ExportOptionsError, DatasetError, InputError)
    if isinstance(error, usage):
        return EXIT_USAGE
    return failure_exit(error)  # a missing optional dependency (an ImportError), or another failure


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = SUBCOMMANDS.get(argv[0]) if argv else None
    command, argv = (command, argv[1:]) if command is not None else (export, argv)
    args = parse(command.build_parser(), argv)
    if isinstance(args, int):
        return args
    silence_library_noise(quiet=bool(getattr(args, "quiet", False)))
    previous = _terminate_as_interrupt()
    try:
        return command.run(args)
    except (BeitDeployError, ImportError, KeyboardInterrupt) as error:
        message = ("interrupted; no artifact was written" if isinstance(error, KeyboardInterrupt) else
                   missing_module_message(error) if isinstance(error, ImportError) else str(error))
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return exit_code(error)
    except OSError as error:  # a file system failure no step translated: one line, not a traceback
        where = f" ({error.filename})" if error.filename else ""
        print(f"{PROG}: error: {error.strerror or error}{where}; no artifact was written", file=sys.stderr)
        return EXIT_ERROR
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _terminate_as_interrupt():
    """SIGTERM (e.g. a CI timeout) unwinds like Ctrl-C, so the staging folder is removed; returns the old handler."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_interrupt)
