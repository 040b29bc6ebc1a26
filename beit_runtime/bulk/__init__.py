"""Folder-scale batch inference: every image under some folders, with progress, resumable outputs, on
this machine (``run_folder``) or on a Ray cluster (``run_on_ray``, ``pip install "beit-deploy[ray]"``).

``beit-run ARTIFACT FOLDER... --output OUT`` is the command (``beit_runtime.bulk.command``). The parts:
``walking`` (which images, under which names), ``reader`` (decode + preprocess on threads, bounded),
``processing`` (one batch through the task class), ``results`` (what each task writes), ``files`` and
``writers`` (write-then-rename outputs, whole JSON lines, resuming), ``progress``, ``local`` and
``ray_data`` (the two runners).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .local import BulkSummary, run_folder
from .options import BulkOptions

if TYPE_CHECKING:
    from .ray_data import run_on_ray

__all__ = ["BulkOptions", "BulkSummary", "run_folder", "run_on_ray"]


def __getattr__(name: str) -> Any:
    if name == "run_on_ray":  # imports ray only when asked for
        from .ray_data import run_on_ray

        return run_on_ray
    raise AttributeError(f"module 'beit_runtime.bulk' has no attribute {name!r}")
