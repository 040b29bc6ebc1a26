"""uint8 pixels for graphs that normalise on the device (``beit_export.graph.uint8_input``).

The CPU keeps the Pillow-exact resize and centre crop (``Preprocessor.pixels``) and stops there: the
batch goes to the engine as uint8 ``pixels`` (NHWC, as Pillow gives them, or NCHW), and the graph
turns each level into the float32 value the CPU table would have produced. That skips the CPU's
normalisation pass and moves a quarter of the bytes to the device. ``run_variant`` picks the graph a
task class runs under ``RunOptions.fused_attention`` / ``device_normalisation``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

from .engines import BACKEND_INFO
from .errors import ImageFormatError, InputError
from .options import RunOptions
from .preprocess import Preprocessor
from .tasks import task
from .thread_pool import parallel_map

UINT8_INPUT = "pixels"
FUSED_VARIANT = "fp16-fused"  # the graph beit-export --fp16 --fused-attention writes
LAYOUTS = ("nhwc", "nchw")


def uint8_batch(preprocessor: Preprocessor, images: Sequence[np.ndarray], *, layout: str = "nhwc") -> np.ndarray:
    """Resize + crop each HxWx3 uint8 RGB image as the checkpoint's processor does; stack as uint8.

    Returns ``(N, H, W, 3)`` for ``layout="nhwc"`` or ``(N, 3, H, W)`` for ``"nchw"``; all images must
    come out at one size (pass differently sized results in separate calls).
    """
    if layout not in LAYOUTS:
        raise InputError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if len(images) == 0:
        raise ImageFormatError("no images given; pass at least one image")
    resized = parallel_map(preprocessor.pixels, list(images))
    sizes = sorted({image.shape for image in resized})
    if len(sizes) > 1:
        raise ImageFormatError(f"images preprocess to different sizes {sizes}; pass them in separate calls")
    batch = np.stack(resized)
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2)) if layout == "nchw" else batch


def run_variant(variant: str, *, options: RunOptions, graphs: Collection[str], backend: str, task_name: str) -> str:
    """The graph a run uses: ``variant``, its ``fp16-fused`` form with ``fused_attention``, its ``-uint8``
    copy with ``device_normalisation``; InputError naming the export flag when the artifact lacks it."""
    if not (options.fused_attention or options.device_normalisation):
        return variant
    running = [name for name, info in BACKEND_INFO.items() if info.device_graphs]
    if backend not in running:
        raise InputError(f"fused_attention / device_normalisation run graphs of backend {' or '.join(running)} only; "
                         f"the backend is {backend!r}: pass backend={running[0]!r}")
    flags = []
    if options.fused_attention:
        if variant != "fp16":
            raise InputError(f"fused_attention runs the fp16-fused graph: pass precision='fp16', not {variant!r}")
        variant, flags = FUSED_VARIANT, ["--fp16 --fused-attention"]
    if options.device_normalisation:
        if not task(task_name).device_normalisation:
            raise InputError(f"device_normalisation is not available for {task_name} (its task class works on "
                             "normalised tensors); leave it off")
        variant, flags = f"{variant}-uint8", [*flags, "--uint8-input"]
    if variant not in graphs:
        raise InputError(f"the artifact has no '{variant}' graph; export it with {' '.join(flags)}")
    return variant
