"""The min/opt/max shapes of a TensorRT optimization profile, from the manifest's input records."""

from __future__ import annotations

from collections.abc import Sequence

from beit_runtime.manifest import InputRecord, TensorRecord

from ..errors import ExportError
from ..options import ExportOptionsError

Size = tuple[int, int]


def default_sizes(native: Size, patch: int) -> tuple[Size, Size, Size]:
    """Half, native and double the native (height, width), in whole patches."""
    half = tuple(max(patch, (side // 2) // patch * patch) for side in native)
    double = tuple(side * 2 for side in native)
    return half, tuple(native), double  # type: ignore[return-value]


def _sizes(manifest_input: InputRecord, sizes: Sequence[Size | None]) -> tuple[Size, Size, Size]:
    native = manifest_input.size
    patch = manifest_input.patch_size
    if not manifest_input.dynamic_resolution:
        if any(size is not None and tuple(size) != native for size in sizes):
            raise ExportOptionsError(
                f"this artifact was exported at a fixed {native[0]}x{native[1]} resolution: drop "
                "--min/--opt/--max-size, or re-export with --dynamic-resolution to build an engine for other sizes"
            )
        return native, native, native
    defaults = default_sizes(native, patch)
    chosen = [tuple(size) if size is not None else default for size, default in zip(sizes, defaults, strict=True)]
    for size in chosen:
        if len(size) != 2 or any(side < patch or side % patch for side in size):
            raise ExportOptionsError(
                f"profile size {size} must be (height, width) in whole multiples of the patch size {patch}"
            )
    low, opt, high = chosen
    if not all(a <= b <= c for a, b, c in zip(low, opt, high, strict=True)):
        raise ExportOptionsError(f"profile sizes must satisfy min <= opt <= max per side, got {low}, {opt}, {high}")
    return low, opt, high  # type: ignore[return-value]


def _dimension(dim, *, batch: int, size: Size, patch: int, name: str) -> int:
    if isinstance(dim, int) and dim > 0:
        return dim
    text = str(dim)
    if text == "batch":
        return batch
    if text == "height":
        return size[0]
    if text == "width":
        return size[1]
    if text in ("num_patches", "patches", "sequence"):
        return (size[0] // patch) * (size[1] // patch)
    raise ExportError(
        f"input '{name}' has a dynamic dimension {dim!r} that the TensorRT profile cannot size; expected "
        "'batch', 'height', 'width' or 'num_patches'"
    )


def profile_shapes(
    inputs: Sequence[TensorRecord],
    manifest_input: InputRecord,
    *,
    batch: tuple[int, int, int],
    sizes: Sequence[Size | None] = (None, None, None),
) -> dict[str, dict[str, list[int]]]:
    """``{input name: {"min": shape, "opt": shape, "max": shape}}`` for every graph input."""
    patch = manifest_input.patch_size
    triple = _sizes(manifest_input, sizes)
    profile = {}
    for record in inputs:
        name = record.name
        shapes = {}
        for key, count, size in zip(("min", "opt", "max"), batch, triple, strict=True):
            shapes[key] = [_dimension(d, batch=count, size=size, patch=patch, name=name) for d in record.shape]
        profile[name] = shapes
    return profile
