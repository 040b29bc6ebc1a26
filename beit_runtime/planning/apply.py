"""``precision="auto"``: follow this machine's plan for an artifact, or fp32 with the reason why not.

The plan is ``plan=PATH`` when given (InputError when that file does not exist), else the one ``beit-run
tune`` wrote into the user cache for this artifact on this machine (optional). A plan made on another
machine or for another artifact is never applied: the choice falls back to fp32 on ONNX Runtime and the
reason says which plan was refused and why. Within an applicable plan the variant run is the fastest of the
plan's choice and its other eligible variants whose backend is installed here at the version the plan measured
(the plan's own choice unless this environment lacks it: Triton's python environment has no OpenVINO); a
backend of another version may run other kernels, so its figures do not hold. The reason is shown by the task
classes' ``repr`` and ``beit-run --verbose``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..engines.backends import backend_info
from ..errors import InputError
from ..manifest import Manifest
from .machine import library_versions
from .plan import Plan, PlanRow, applicable, default_plan_path, read_plan

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
    if refused:
        return AutoChoice(FALLBACK_BACKEND, FALLBACK_PRECISION, f"fp32: plan {path} not applied: {refused}",
                          planned=False)
    return runnable_choice(record, path=path)


def runnable_choice(record: Plan, *, path: Path) -> AutoChoice:
    """The first of the plan's choice and its other eligible variants (fastest first) that can run here as
    measured; fp32 with every variant's reason when none can."""
    skipped: list[str] = []
    for backend, precision in candidates(record):
        problem = cannot_run_as_measured(record, backend)
        if not problem:
            why = record.reason if (backend, precision) == (record.chosen_backend, record.chosen_precision) else (
                f"{backend}-{precision}, the plan's fastest variant this environment runs as measured")
            return AutoChoice(backend, precision, f"plan {path}: {why}" + "".join(f"; {s}" for s in skipped))
        skipped.append(f"{backend}-{precision} skipped: {problem}")
    return AutoChoice(FALLBACK_BACKEND, FALLBACK_PRECISION, f"fp32: plan {path} not applied: " + "; ".join(skipped),
                      planned=False)


def candidates(record: Plan) -> list[tuple[str, str]]:
    """The plan's choice, then its other eligible variants from the fastest."""
    eligible = sorted((row for row in record.rows if row.eligible), key=_median_speedup, reverse=True)
    chosen = (record.chosen_backend, record.chosen_precision)
    return [chosen, *((row.backend, row.precision) for row in eligible if (row.backend, row.precision) != chosen)]


def _median_speedup(row: PlanRow) -> float:
    return float(row.speedup.get("median", 0.0))


def cannot_run_as_measured(record: Plan, backend: str) -> str:
    """Why ``backend`` cannot run the plan's figures here ("" when it can): not installed, or another version
    of its library than the plan measured."""
    info = backend_info(backend)
    if not info.installed():
        return f"{backend} is not installed in this environment"
    here = library_versions(info.distributions)
    measured = {name: version for name, version in (record.machine.get("libraries") or {}).items()
                if name in info.distributions}
    if measured != here:
        return (f"the plan measured {_versions(measured)} and this environment has {_versions(here)} (other "
                "kernels may run); run `beit-run tune` here")
    return ""


def _versions(versions: dict[str, str]) -> str:
    return ", ".join(f"{name} {version}" for name, version in sorted(versions.items())) or "no version of it"
