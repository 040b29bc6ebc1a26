"""What the parity check holds in memory, and the token count real photos are checked at.

Attention makes a case's memory grow with the square of its tokens: each layer's scores are
batch x heads x tokens^2 fp32 values (S below), and an engine holds several such tensors while one layer
runs. Peaks measured above the process's own, one image through a 2-head 2-layer ViT at patch 8: at
512x512 (4,097 tokens, S = 128 MiB) ONNX Runtime CPU 528 MiB (~4 S), OpenVINO f32 162, PyTorch SDPA 18;
at 384x384 (2,305 tokens) each is about (4,097 / 2,305)^2 = 3.2 times smaller: tokens^2. With both layers'
attentions as outputs (O = 2 S per image), one 376x432 photo (S = 49 MiB) checked by ``evaluate`` took
1,147 MiB on ONNX Runtime (4 S + 9.7 O) and 1,346 MiB on OpenVINO (1.2 S + 13.2 O): the engine's own
copies of the outputs, its result, and the comparison's float64 copies of reference, result and their
difference (``drift_metrics``).

``running_bytes`` is one case while an engine checks it: ``WORKING_SCORES`` S plus ``RUNNING_OUTPUT_COPIES``
O; ``held_bytes`` the PyTorch reference of the optional outputs, which every case keeps until the last
graph is checked. ``check_cases_fit`` refuses a set of cases whose held bytes plus the largest running
case exceed half the memory available.

Photos: ``photo_token_limit`` is the largest token count whose one-image case stays within
``PHOTO_CASE_BUDGET``; where the recipe keeps each image's size, larger photos are scaled down to it
(``beit_export.parity.photos.scaled_to_tokens``), and photos of one size are batched only while the
batch stays within the budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from beit_runtime.attention import check_fits
from beit_runtime.attention_memory import attention_bytes
from beit_runtime.engines.backends import BACKEND_INFO
from beit_runtime.errors import OutputTooLargeError

from ..options import ExportOptionsError
from ..outputs import ExtraOutputs, ExtraOutputsError

# layers' worth of attention scores an engine holds while one layer runs: the most any backend holds (the backend
# table's measured factor, which the runtime's memory guard uses too: ONNX Runtime ~4, OpenVINO ~1.2)
WORKING_SCORES = max(info.attention_scores_held for info in BACKEND_INFO.values()
                     if info.attention_scores_held is not None)
RUNNING_OUTPUT_COPIES = 14  # copies of a case's optional outputs while it is checked (OpenVINO: ~13.2)
PHOTO_CASE_BUDGET = 512 * 2**20  # bytes one photo batch may take while it runs (running + held)
MAX_TOKENS = 2**24  # the search's upper end (a 4096x4096 grid of patches)


class PlannedCase(NamedTuple):
    """A parity case before its PyTorch reference runs: its name and (batch, height, width)."""

    name: str
    batch: int
    height: int
    width: int


def tokens_of(height: int, width: int, *, patch_size: int) -> int:
    """Tokens of a height x width input: its whole patches plus the CLS token."""
    return (height // patch_size) * (width // patch_size) + 1


def held_bytes(*, batch: int, tokens: int, config: Any, extra: ExtraOutputs | None) -> int:
    """The PyTorch reference of the optional outputs, kept for the whole check (0 without ``--outputs``)."""
    if extra is None:
        return 0
    return batch * extra.bytes_per_image(tokens=tokens, heads=int(config.num_attention_heads),
                                         hidden=int(config.hidden_size))


def running_bytes(*, batch: int, tokens: int, config: Any, extra: ExtraOutputs | None) -> int:
    """One case while an engine checks it: its attention working set and the copies of its optional outputs."""
    return (attention_bytes(batch=batch, tokens=tokens, heads=int(config.num_attention_heads), held=WORKING_SCORES)
            + RUNNING_OUTPUT_COPIES * held_bytes(batch=batch, tokens=tokens, config=config, extra=extra))


def case_bytes(*, batch: int, tokens: int, config: Any, extra: ExtraOutputs | None) -> int:
    """One case alone: running and held."""
    sizes = {"batch": batch, "tokens": tokens, "config": config, "extra": extra}
    return running_bytes(**sizes) + held_bytes(**sizes)


def photo_token_limit(config: Any, extra: ExtraOutputs | None, *, budget: int = PHOTO_CASE_BUDGET) -> int:
    """The most tokens (CLS included) one photo may have for its case to stay within ``budget`` (at least 2)."""
    low, high = 2, MAX_TOKENS
    while low < high:  # the largest tokens with case_bytes <= budget; case_bytes grows with tokens
        middle = (low + high + 1) // 2
        if case_bytes(batch=1, tokens=middle, config=config, extra=extra) <= budget:
            low = middle
        else:
            high = middle - 1
    return low


def photo_batch_limit(tokens: int, config: Any, extra: ExtraOutputs | None, *,
                      budget: int = PHOTO_CASE_BUDGET) -> int:
    """How many photos of ``tokens`` tokens one batch takes within ``budget`` (at least 1)."""
    return max(1, budget // max(1, case_bytes(batch=1, tokens=tokens, config=config, extra=extra)))


def parity_bytes(cases: Sequence[PlannedCase], config: Any, extra: ExtraOutputs | None) -> tuple[int, PlannedCase]:
    """Bytes the parity check on ``cases`` peaks at (every reference held plus the largest running case), and
    that case."""
    patch = int(config.patch_size)

    def sizes(case: PlannedCase) -> dict[str, Any]:
        tokens = tokens_of(case.height, case.width, patch_size=patch)
        return {"batch": case.batch, "tokens": tokens, "config": config, "extra": extra}

    held = sum(held_bytes(**sizes(case)) for case in cases)
    running, largest = max((running_bytes(**sizes(case)), case) for case in cases)
    return held + running, largest


def check_cases_fit(cases: Sequence[PlannedCase], config: Any, *, extra: ExtraOutputs | None,
                    available: int | None = None) -> None:
    """ExtraOutputsError (with ``--outputs``) or ExportOptionsError when the parity check on ``cases`` would not
    fit in half the memory ``available`` (default: what is available now); the message names the fix."""
    if not cases:
        return
    needed, largest = parity_bytes(cases, config, extra)
    held = f"and the {' and '.join(extra.names)} outputs " if extra is not None else ""
    what = (f"the parity check ({len(cases)} cases; the largest, {largest.name}: {largest.batch} image(s) at "
            f"{largest.height}x{largest.width}) with its attention scores {held}in PyTorch, ONNX Runtime and "
            "OpenVINO")
    try:
        check_fits(needed, what=what, fix=_fix(cases, extra), available=available)
    except OutputTooLargeError as error:
        raise (ExportOptionsError if extra is None else ExtraOutputsError)(str(error)) from error


def _fix(cases: Sequence[PlannedCase], extra: ExtraOutputs | None) -> str:
    fixes = []
    if extra is not None:
        fixes.append("export fewer layers with --attention-layers last (or N,M), or only --outputs hidden_states")
    if any(case.name.startswith("user") for case in cases):
        fixes.append("pass fewer or smaller --parity-data images (--parity-size N; with a recipe that keeps each "
                     "image's size they are checked at theirs)")
    fixes.append("export on a machine with more memory free")
    return "; or ".join(fixes)
