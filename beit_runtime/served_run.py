"""``beit-run http://HOST:PORT/NAME IMAGE...``: ``beit-run``'s file run against a served model.

The same reports as for an artifact folder (top-k labels, classes found, embeddings; ``--json``,
``--output``, ``--side-by-side``, ``--attention-maps``) from the Remote* client of the served model's
task (``beit_runtime.remote.connect``), so a deployment can be checked from the shell against the
artifact it was written from: ``diff <(beit-run ARTIFACT x.jpg --json) <(beit-run http://...:8000/NAME
x.jpg --json)``. Labels agree exactly; scores to about 1e-6, as the Remote* clients' tests check.

The options that choose and feed a local engine (``--precision``, ``--plan``, ``--backend``,
``--threads``, ``--batch-size``) are usage errors here: ``beit-export triton`` chose the served engine.
Folder runs read an artifact folder. Exit codes (``beit_runtime.exit_codes``): 0 done, 1 the server cannot be
reached or fails, 2 bad usage (an address without a model name, an option above, an output path that cannot be
written), 5 the Triton client is not installed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from .bulk.command import is_folder_run, report_error, report_failure
from .errors import BeitDeployError, InputError
from .exit_codes import EXIT_USAGE
from .remote.connect import connect, split_served_model
from .run_checks import check_request, check_run_flags

SERVER_TIMEOUT_S = 30.0
# the options that choose and feed a local engine (argparse dest -> flag)
LOCAL_ENGINE_FLAGS = {"precision": "--precision", "plan": "--plan", "backend": "--backend",
                      "threads": "--threads", "batch_size": "--batch-size"}


def run_served(args: argparse.Namespace, *, parser: argparse.ArgumentParser,
               report: Callable[[argparse.Namespace, Any, str], int]) -> int:
    """The exit code of ``beit-run`` on the served model ``args.artifact``; ``report`` prints (and writes)
    the results of one task's model, as for a local artifact, and returns the exit code."""
    try:
        _check_flags(args, parser)
        split_served_model(args.artifact)
    except InputError as error:
        return report_error(error, exit_code=EXIT_USAGE)
    try:
        with connect(args.artifact, timeout_s=args.server_timeout or SERVER_TIMEOUT_S) as model:
            return _run_checked(args, model, report)
    except BeitDeployError as error:
        return report_failure(error)


def _run_checked(args: argparse.Namespace, model: Any, report: Callable[[argparse.Namespace, Any, str], int]) -> int:
    """``report`` on the connected ``model`` once the request is checked against what it serves (exit 2 if not)."""
    layers = (getattr(model, "attention_layers", ()), getattr(model, "num_layers", 0))  # Remote*LayerOutputs only
    try:
        check_request(args, task_name=model.task, attention_layers=layers, source=args.artifact)
        if hasattr(model, "check_top_k"):  # RemoteClassifier: at most the classes the server returns
            model.check_top_k(args.top_k, option="--top-k")
    except InputError as error:
        return report_error(error, exit_code=EXIT_USAGE)
    if args.verbose:
        print(f"running {model!r}: served version {model.served_version()}, written by beit-deploy "
              f"{model.beit_deploy_version or '(unknown)'}", file=sys.stderr)
    return report(args, model, model.task)


def _check_flags(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """InputError for a folder run, a local engine's option given with a served model, or a flag out of range."""
    check_run_flags(args)
    if is_folder_run(args):
        raise InputError(f"{args.artifact} is a served model: beit-run sends it image files named alone; a folder "
                         "run (a folder among the inputs, or --ray) reads an artifact folder")
    used = [flag for name, flag in LOCAL_ENGINE_FLAGS.items() if getattr(args, name) != parser.get_default(name)]
    if used:
        flags, verb = ", ".join(used), "chooses" if len(used) == 1 else "choose"
        raise InputError(f"{flags} {verb} the engine of a local artifact; the served model's engine was chosen by "
                         f"`beit-export triton` (its --precision, --model-backend): drop {flags}")
