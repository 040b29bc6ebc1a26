"""The trained demo digits model exported with dynamic int8 (no photos: its parity runs on digits-sized inputs), as
the evaluation and tune tests use it: a classifier, or its backbone with the head dropped."""

from __future__ import annotations

from pathlib import Path

from beit_export.checkpoint import load_checkpoint
from beit_export.demo import DEMO_CLASSIFIER_ID
from beit_export.options import ExportOptions
from beit_export.pipeline import export_artifact


def export_digits_int8(folder: Path, *, task: str | None = None) -> Path:
    """``folder``/a: the digits model (as ``task``, its own when None) in fp32 and dynamic int8."""
    return export_artifact(load_checkpoint(DEMO_CLASSIFIER_ID, task=task), output=folder / "a",
                           options=ExportOptions(int8=True, int8_mode="dynamic", photos=False))
