"""A per-machine plan: which variant of an artifact to run on this machine, chosen from measurements.

A plan records the machine (``machine.machine_description``), the artifact (a digest of its graph
files' hashes), every variant measured (speed against fp32 as the per-round ratio's median and IQR,
the accuracy figure and its drop from fp32) and the variant chosen: the fastest whose accuracy drop is
within ``max_drop`` points AND that is faster than fp32 in at least three rounds out of four (its
ratio's first quartile above 1). A variant slower than fp32 here is marked so and never chosen; with
no such variant the plan says fp32 and why.

Plans are JSON files: by default in the user's cache (``plans_folder()``: ``$BEIT_DEPLOY_CACHE`` or
``$XDG_CACHE_HOME/beit-deploy`` or ``~/.cache/beit-deploy``, then ``plans/``), one per artifact and
machine; ``path=`` writes one where a container image can carry it. ``applicable(plan, ...)`` is the
only way a plan is applied: a plan made on another machine or for another artifact never is, and the
reason says which (``apply`` further skips a variant whose backend is missing or has another version here).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..manifest.verified import cache_home
from ..output_files import write_atomically
from .machine import describe, machine_description, machine_key

PLAN_FORMAT = "beit-deploy-plan"
PLAN_SCHEMA = 2  # 2: machine_key digests the hardware only (1 also digested library versions)
SLOWER_NOTE = "slower than fp32 here"


@dataclass(frozen=True)
class PlanRow:
    """One measured variant: ``speedup`` is the per-round ratio fp32 time / variant time (median, q1, q3)."""

    backend: str
    precision: str
    speedup: dict[str, float]
    accuracy: dict[str, float]  # e.g. {"top1": 0.96} or {"agreement": 0.99}
    drop_points: float  # accuracy lost against fp32, in points (percent)
    eligible: bool
    note: str = ""

    @property
    def name(self) -> str:
        return f"{self.backend}-{self.precision}"


@dataclass(frozen=True)
class Plan:
    machine: dict[str, Any]
    machine_key: str
    artifact_digest: str
    artifact: str
    batch_size: int
    max_drop: float
    accuracy_source: str
    chosen_backend: str
    chosen_precision: str
    reason: str
    rows: tuple[PlanRow, ...]
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def as_json(self) -> dict[str, Any]:
        return {"format": PLAN_FORMAT, "schema_version": PLAN_SCHEMA, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any], *, source: str) -> Plan:
        if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
            raise InputError(
                f"{source} is not a beit-deploy plan (schema {PLAN_SCHEMA}); make one with `beit-run tune`")
        if data.get("schema_version") != PLAN_SCHEMA:
            raise InputError(f"{source} is a plan of schema {data.get('schema_version')!r}, not {PLAN_SCHEMA} (made by "
                             "another beit-deploy version); make a new one with `beit-run tune`")
        fields = {key: value for key, value in data.items() if key not in ("format", "schema_version")}
        try:
            rows = tuple(PlanRow(**row) for row in fields.pop("rows"))
            return cls(rows=rows, **fields)
        except (KeyError, TypeError) as error:
            raise InputError(f"{source} is a damaged plan ({error}); make a new one with `beit-run tune`") from error


def choose(rows: list[PlanRow]) -> tuple[PlanRow | None, str]:
    """The fastest eligible row (None: stay on fp32) and the reason, in words."""
    eligible = [row for row in rows if row.eligible]
    if not eligible:
        return None, "no variant was both faster than fp32 and within the accuracy budget on this machine"
    best = max(eligible, key=lambda row: row.speedup["median"])
    return best, (f"{best.name}: {best.speedup['median']:.2f}x fp32 [IQR {best.speedup['q1']:.2f}-"
                  f"{best.speedup['q3']:.2f}], accuracy drop {best.drop_points:.2f} points")


def plans_folder() -> Path:
    return cache_home() / "plans"


def default_plan_path(digest: str, *, key: str | None = None) -> Path:
    return plans_folder() / f"{digest[:16]}-{key or machine_key()}.json"


def write_plan(plan: Plan, path: Path) -> Path:
    """Write ``plan`` as JSON at ``path`` atomically (a temporary file renamed into place)."""
    write_atomically(path, json.dumps(plan.as_json(), indent=2) + "\n")
    return path


def read_plan(path: Path) -> Plan:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(
            f"plan {path} cannot be read ({error}); make one with `beit-run tune ARTIFACT --plan {path}`") from error
    return Plan.from_json(data, source=str(path))


def applicable(plan: Plan, *, digest: str) -> str:
    """Why ``plan`` must not be applied here ("" when it may): another machine or another artifact."""
    here = machine_description()
    if plan.machine_key != machine_key(here):
        return (f"the plan was made on another machine ({describe(plan.machine)}) than this one ({describe(here)}); "
                "run `beit-run tune` here")
    return another_artifact(plan, digest=digest)


def another_artifact(plan: Plan, *, digest: str) -> str:
    """Why ``plan`` must not be applied to the artifact whose files digest is ``digest`` ("" when it may)."""
    if plan.artifact_digest != digest:
        return "the plan was made for another artifact (its graph files differ); run `beit-run tune` on this one"
    return ""
