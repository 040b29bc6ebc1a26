"""What a benchmark job needs to know, as plain data that crosses into the worker subprocess:
the prepared model, the timing plan and the backend job."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TimingPlan:
    """How long to measure one (backend, batch size, mode): ``time_limit_s`` caps the timed
    iterations (never fewer than ``min_iterations``); warm-up iterations are not timed and stop
    early (after at least one) once they have taken a quarter of ``time_limit_s``."""

    iterations: int = 30
    warmup: int = 3
    time_limit_s: float = 60.0
    min_iterations: int = 3


@dataclass(frozen=True)
class ModelInfo:
    """One prepared model: its artifact folder, its Hugging Face folder, and its config."""

    name: str
    task: str
    artifact_dir: str
    hf_dir: str
    height: int
    width: int
    config: dict[str, Any]
    graph_variants: tuple[str, ...] = ()
    engine_variants: tuple[str, ...] = ()
    export_failures: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BackendJob:
    """Measure one backend of one model in a fresh process."""

    backend: str
    model: ModelInfo
    threads: int
    batch_sizes: tuple[int, ...]
    plan: TimingPlan
    photos: tuple[str, ...]
    end_to_end: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def photo_paths(self) -> list[Path]:
        return [Path(p) for p in self.photos]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BackendJob:
        model = ModelInfo(**{**data["model"], "graph_variants": tuple(data["model"]["graph_variants"]),
                             "engine_variants": tuple(data["model"]["engine_variants"])})
        return cls(
            backend=data["backend"], model=model, threads=data["threads"],
            batch_sizes=tuple(data["batch_sizes"]), plan=TimingPlan(**data["plan"]),
            photos=tuple(data["photos"]), end_to_end=data["end_to_end"], extra=data.get("extra", {}),
        )
