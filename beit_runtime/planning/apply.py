"""``precision="auto"``: follow this machine's plan for an artifact, or fp32 with the reason why not.

The plan is ``plan=PATH`` when given (InputError when that file does not exist), else the one ``beit-run
tune`` wrote into the user cache for this artifact on this machine (optional). A plan made on another
machine or for another artifact is never applied: the choice falls back to fp32 on ONNX Runtime and the
reason says which plan was refused and why. The reason is shown by the task classes' ``repr`` and
``beit-run --verbose``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..manifest import Manifest
from .plan import applicable, default_plan_path, read_plan

FALLBACK_BACKEND, FALLBACK_PRECISION = "onnxruntime", "fp32"


@dataclass(frozen=True)
class AutoChoice:
    backend: str
    precision: str
    reason: str
    planned: bool = True  # False: no plan applies, and this is the fp32 fallback (``reason`` says why)


def named_plan(plan: str | Path, *, artifact: str | Path) -> Path:
    """``plan`` as a path; InputError when the plan file a user named does not exist (the cache plan is optional)."""
    path = Path(plan)
    if not path.is_file():
        problem = "is a folder, not a plan file" if path.is_dir() else "does not exist"
        raise InputError(f"plan {path} {problem}: make it with `beit-run tune {artifact} --plan {path}`, or leave "
                         "the plan out to follow the one `beit-run tune` keeps for this machine")
    return path


def choose_automatically(manifest: Manifest, *, plan: str | Path | None = None) -> AutoChoice:
    """The (backend, precision) ``precision="auto"`` runs for ``manifest`` here, and why."""
    digest = manifest.files_digest
    path = named_plan(plan, artifact=manifest.folder) if plan is not None else default_plan_path(digest)
    if not path.is_file():
        return AutoChoice(FALLBACK_BACKEND, FALLBACK_PRECISION, f"fp32: no plan for this artifact on this machine; "
                          f"run `beit-run tune {manifest.folder}` to measure the variants here", planned=False)
    record = read_plan(path)
    refused = applicable(record, digest=digest)
    if not refused and importlib.util.find_spec(record.chosen_backend) is None:
        refused = f"it chose {record.chosen_backend}, which is not installed in this environment"
    if refused:
        return AutoChoice(FALLBACK_BACKEND, FALLBACK_PRECISION, f"fp32: plan {path} not applied: {refused}",
                          planned=False)
    return AutoChoice(record.chosen_backend, record.chosen_precision, f"plan {path}: {record.reason}")
