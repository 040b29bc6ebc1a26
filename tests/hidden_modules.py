"""Run a console entry point in a fresh interpreter where some top-level modules cannot be imported, as if they
were not installed: a meta path finder in front of the others raises ModuleNotFoundError for them. Not a mock
of what they do; the command sees the same exception an environment without them gives."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_RUN_HIDING = """
import importlib, importlib.abc, sys

hidden, entry = set(sys.argv[1].split(",")), sys.argv[2]


class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in hidden:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, Hide())
module, function = entry.split(":")
sys.exit(getattr(importlib.import_module(module), function)(sys.argv[3:]))
"""


def run_without(modules: Sequence[str], entry: str, argv: Sequence[str], *, cwd: Path | None = None,
                timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``entry`` ("package.module:main", called with ``argv``) run with ``modules`` not importable."""
    return subprocess.run([sys.executable, "-c", _RUN_HIDING, ",".join(modules), entry, *argv], cwd=cwd or REPO,
                          capture_output=True, text=True, timeout=timeout, check=False)
