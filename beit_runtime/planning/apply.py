"""``precision="auto"``: follow this machine's plan for an artifact, or fp32 with the reason why not.

The plan is ``plan=PATH`` when given, else the one ``beit-run tune`` wrote into the user cache for this
artifact on this machine. A plan made on another machine or for another artifact is never applied: the
choice falls back to fp32 on ONNX Runtime and the reason says which plan was refused and why. The
reason is shown by the task classes' ``repr`` and ``beit-run --verbose``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from ..manifest import Manifest
from .plan import applicable, default_plan_path, read_plan

FALLBACK_BACKEND, FALLBACK_PRECISION = "onnxruntime", "fp32"


@dataclass(frozen=True)
class AutoChoice:
    backend: str
    precision: str
    reason: str


def choose_automatically(manifest: Manifest, *, plan: str | Path | None = None) -> AutoChoice:
    """The (backend, precision) ``precision="auto"`` runs for ``manifest`` here, and why."""
    digest = manifest.files_digest
    path = Path(plan) if plan is not None else default_plan_path(digest)
    if not path.is_file():
        where = f"plan {path} does not exist" if plan is not None else "no plan for this artifact on this machine"
        return AutoChoice(FALLBACK_BACKEND, FALLBACK_PRECISION,
                          f"fp32: {where}; run `beit-run tune {manifest.folder}` to measure the variants here")
    record = read_plan(path)
    refused = applicable(record, digest=digest)
    if not refused and importlib.util.find_spec(record.chosen_backend) is None:
        refused = f"it chose {record.chosen_backend}, which is not installed in this environment"
    if refused:
        return AutoChoice(FALLBACK_BACKEND, FALLBACK_PRECISION, f"fp32: plan {path} not applied: {refused}")
    return AutoChoice(record.chosen_backend, record.chosen_precision, f"plan {path}: {record.reason}")
