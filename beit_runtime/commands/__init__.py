"""``beit-run`` subcommands beside the default "run an artifact on images" (``beit_runtime.cli``):
``beit-run evaluate`` (accuracy of every variant on labelled data) and ``beit-run tune`` (a per-machine plan).
Each module has ``build_parser()`` and ``main(argv) -> exit code``."""

from __future__ import annotations

from . import evaluate, tune

SUBCOMMANDS = {"evaluate": evaluate.main, "tune": tune.main}

__all__ = ["SUBCOMMANDS"]
