"""``TensorRTBuildOptions``: how ``build_engine`` builds, validated once when the object is made."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import ExportError

Size = tuple[int, int]


def _size(value, *, name: str) -> Size | None:
    if value is None:
        return None
    pair = tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in pair):
        raise ExportError(f"{name} must be a (height, width) pair of positive ints, got {value!r}")
    return pair  # type: ignore[return-value]


@dataclass(frozen=True)
class TensorRTBuildOptions:
    """One engine build: the graph variant, the optimization profile and the builder's resources.

    Batch sizes: ``1 <= min_batch <= opt_batch <= max_batch``. Sizes are (height, width) and only apply
    to dynamic-resolution artifacts (defaults: half, native and double the native size, in whole
    patches). ``timing_cache`` is read if it exists and written back after the build, which makes later
    builds on the same GPU much faster.
    """

    graph_variant: str = "fp16"
    min_batch: int = 1
    opt_batch: int = 8
    max_batch: int = 32
    workspace_gib: float = 4.0
    timing_cache: Path | None = None
    min_size: Size | None = None
    opt_size: Size | None = None
    max_size: Size | None = None
    device_id: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.graph_variant, str) or not self.graph_variant:
            raise ExportError(
                f"graph_variant must name a graph of the artifact (e.g. 'fp16'), got {self.graph_variant!r}"
            )
        batches = (self.min_batch, self.opt_batch, self.max_batch)
        integers = all(isinstance(b, int) and not isinstance(b, bool) for b in batches)
        if not integers or not 1 <= batches[0] <= batches[1] <= batches[2]:
            raise ExportError(
                f"batch sizes must satisfy 1 <= min <= opt <= max, got {batches[0]}, {batches[1]}, {batches[2]}"
            )
        if not self.workspace_gib > 0:
            raise ExportError(f"workspace_gib must be positive, got {self.workspace_gib}")
        if not isinstance(self.device_id, int) or self.device_id < 0:
            raise ExportError(f"device_id must be a CUDA device index >= 0, got {self.device_id!r}")
        for name in ("min_size", "opt_size", "max_size"):
            object.__setattr__(self, name, _size(getattr(self, name), name=name))
        if self.timing_cache is not None:
            object.__setattr__(self, "timing_cache", Path(self.timing_cache))

    @property
    def batches(self) -> tuple[int, int, int]:
        return self.min_batch, self.opt_batch, self.max_batch

    @property
    def sizes(self) -> tuple[Size | None, Size | None, Size | None]:
        return self.min_size, self.opt_size, self.max_size

    def record(self) -> dict:
        """The options as JSON-ready values (for the manifest's engine record)."""
        values = asdict(self)
        values["timing_cache"] = str(self.timing_cache) if self.timing_cache is not None else None
        return values
