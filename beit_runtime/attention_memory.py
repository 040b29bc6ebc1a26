"""The memory the attention over an image's tokens takes, and the guard that refuses an image before it would
exhaust the machine.

An artifact exported with ``--dynamic-resolution`` whose recipe does not fix the tensor size (``do_resize`` false
keeps each image's size; ``shortest_edge`` follows its aspect ratio) runs attention over
(H / patch) x (W / patch) patches plus the special tokens. One layer's attention scores are batch x heads x tokens^2
float32 values (S), and an engine holds several while the layer runs: ONNX Runtime about 4 S, OpenVINO about 1.2 S
(``BackendInfo.attention_scores_held``, measured on the CPU: ``beit_export.parity.memory``). So a single 4000x3000
photo through a 2-head model with 8-pixel patches is 187,501 tokens, S = 281 GB: without a check it would drive the
machine out of memory and get the process killed (a served model: the server).

``check_attention_fits`` refuses such a batch before it runs with ``ImageTooLargeError`` (an ``InputError`` and an
``ImageError``), naming the image, its tokens, the memory its attention needs against what is available, and the
size that fits; it allows up to ``attention.MEMORY_SHARE`` (half) of the memory available now. Images of one
tensor size that fit one at a time but not together are not refused: ``fitting_batch_size`` is how many go in one
engine call, and the task classes and folder runs split a list into batches of it. Artifacts of a fixed
size, backends without a measured factor (TensorRT: its plan's profile bounds the shape) and manifests written before
the input record had ``num_attention_heads`` are not checked. The memory compared is the smaller of the host's
(``MemAvailable``) and the process's cgroup headroom (v2 ``memory.max`` - ``memory.current``, v1
``memory.limit_in_bytes`` - ``memory.usage_in_bytes``: ``available_memory``), so a container limited below the
host's free memory is guarded by its limit; on a GPU provider the scores live in device memory, where running out is
an error rather than a kill, so the check is then only a bound of the same order.

Serving has no "memory available" to trust (a server's memory is shared by its concurrent requests and models), so
a served repository works to a fixed ``SERVED_ATTENTION_BYTES`` per image: ``attention_max_image_pixels`` is the
default ``beit-export triton --max-image-pixels`` of a recipe that keeps each image's size, and
``check_served_attention`` is the preprocess model's check of a recipe whose resize follows the aspect ratio (an
elongated image of few pixels can still make a very long tensor).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from . import attention
from .attention import FLOAT32_BYTES, MEMORY_SHARE
from .engines.backends import BACKEND_INFO
from .errors import ImageTooLargeError
from .manifest import InputRecord
from .preprocess import Preprocessor

SERVED_ATTENTION_BYTES = 2 * 2**30  # what one served image's attention may take on ONNX Runtime (its ~4 S)
SERVED_BACKEND = "onnxruntime"  # the served engine whose factor the served limits use (the largest measured)
_MiB = 2**20


def image_tokens(record: InputRecord, height: int, width: int) -> int:
    """Tokens of a ``height`` x ``width`` input tensor: its whole patches plus the special tokens (CLS...)."""
    return (height // record.patch_size) * (width // record.patch_size) + record.special_tokens


def scores_held(backend: str) -> float | None:
    """How many copies of one layer's attention scores ``backend`` holds while it runs (None: not measured)."""
    info = BACKEND_INFO.get(backend)
    return None if info is None else info.attention_scores_held


def attention_bytes(*, batch: int, tokens: int, heads: int, held: float) -> int:
    """Bytes ``held`` copies of one layer's float32 attention scores take: held x batch x heads x tokens^2 x 4."""
    return math.ceil(held * batch * heads * tokens * tokens * FLOAT32_BYTES)


def max_tokens(limit: float, *, batch: int, heads: int, held: float) -> int:
    """The most tokens whose ``attention_bytes`` stay within ``limit`` bytes (0 when not even one does)."""
    tokens = math.isqrt(max(0, int(limit / (held * batch * heads * FLOAT32_BYTES))))
    while tokens > 0 and attention_bytes(batch=batch, tokens=tokens, heads=heads, held=held) > limit:
        tokens -= 1
    while attention_bytes(batch=batch, tokens=tokens + 1, heads=heads, held=held) <= limit:
        tokens += 1
    return tokens


def pixels_for(record: InputRecord, tokens: int) -> int:
    """The most tensor pixels whose whole patches, plus the special tokens, stay within ``tokens``."""
    return max(0, tokens - record.special_tokens) * record.patch_size**2


def check_attention_fits(*, batch: int, height: int, width: int, record: InputRecord, backend: str,
                         image_size: tuple[int, int] | None = None, available: int | None = None) -> None:
    """ImageTooLargeError when ``batch`` inputs of ``height`` x ``width`` (the tensor, after preprocessing; the
    image was ``image_size``, default the same) would need more than ``MEMORY_SHARE`` of the memory ``available``
    (default: what is available now) for the attention on ``backend``; nothing for a fixed-size artifact, a
    manifest without ``num_attention_heads`` or a backend without a measured factor (module docstring)."""
    held, heads = scores_held(backend), record.num_attention_heads
    if not record.dynamic_resolution or held is None or heads is None:
        return
    tokens = image_tokens(record, height, width)
    needed = attention_bytes(batch=batch, tokens=tokens, heads=heads, held=held)
    available = attention.available_memory_bytes() if available is None else available
    limit = MEMORY_SHARE * available
    if needed <= limit:
        return
    image = image_size or (height, width)
    what = _described(image, (height, width), batch=batch, tokens=tokens)
    fitting = fitting_batch_size(height=height, width=width, record=record, backend=backend, most=batch,
                                 available=available)
    fix = _fix(record, image, (height, width), batch=batch, limit=limit, held=held, fitting=fitting)
    images = "1 image" if batch == 1 else f"{batch} images"
    raise ImageTooLargeError(
        f"{what}: the attention would take about {needed / _MiB:,.0f} MiB on {backend} ({held:g} copies x {images} x "
        f"{heads} heads x {tokens:,}^2 float32 scores, while one layer runs), more than half of the "
        f"{available / _MiB:,.0f} MiB of memory available; {fix}")


def fitting_batch_size(*, height: int, width: int, record: InputRecord, backend: str, most: int,
                       available: int | None = None) -> int:
    """The most ``height`` x ``width`` inputs (the tensor), up to ``most``, whose attention on ``backend`` stays
    within ``MEMORY_SHARE`` of the memory ``available`` (default: what is available now) in one batch: what a list
    of such images is split into. ``most`` when nothing is checked (``check_attention_fits``); 1 when not even one
    fits (``check_attention_fits`` refuses that image alone)."""
    held, heads = scores_held(backend), record.num_attention_heads
    if not record.dynamic_resolution or held is None or heads is None or most <= 1:
        return max(1, most)
    tokens = image_tokens(record, height, width)
    available = attention.available_memory_bytes() if available is None else available
    limit = MEMORY_SHARE * available
    batch = min(most, int(limit // attention_bytes(batch=1, tokens=tokens, heads=heads, held=held)))
    while batch > 1 and attention_bytes(batch=batch, tokens=tokens, heads=heads, held=held) > limit:
        batch -= 1
    return max(1, batch)


def check_images_attention(images: Sequence[np.ndarray], *, preprocessor: Preprocessor, record: InputRecord,
                           backend: str, available: int | None = None) -> None:
    """``check_attention_fits`` for one batch of decoded ``images`` of one tensor size (its first image's)."""
    if not images or not record.dynamic_resolution:
        return
    image_size = (int(images[0].shape[0]), int(images[0].shape[1]))
    height, width = preprocessor.output_size(*image_size)
    check_attention_fits(batch=len(images), height=height, width=width, record=record, backend=backend,
                         image_size=image_size, available=available)


def _described(image: tuple[int, int], tensor: tuple[int, int], *, batch: int, tokens: int) -> str:
    size = f"{image[0]}x{image[1]} (height x width)"
    made = "" if tensor == image else f", preprocessed to {tensor[0]}x{tensor[1]},"
    if batch > 1:
        return f"a batch of {batch} images of {size}{made} runs as {tokens:,} tokens each"
    return f"a {size} image{made} runs as {tokens:,} tokens"


def _fix(record: InputRecord, image: tuple[int, int], tensor: tuple[int, int], *, batch: int, limit: float,
         held: float, fitting: int) -> str:
    """The ways out: fewer images per engine call (``fitting`` of them) when one alone fits, a smaller image, a
    re-export."""
    heads = int(record.num_attention_heads or 1)
    alone = max_tokens(limit, batch=1, heads=heads, held=held)
    tokens = image_tokens(record, *tensor)
    fixes = []
    if batch > 1 and tokens <= alone:
        fixes.append(f"run at most {fitting} such images per engine call (the task classes and folder runs split "
                     "a list so)")
    pixels = pixels_for(record, max_tokens(limit, batch=batch, heads=heads, held=held))
    if pixels > 0:
        fixes.append(_size_fix(image, tensor, pixels=pixels))
    fixes.append("re-export the artifact with a recipe that bounds the size (a fixed resize, a centre crop, or a "
                 "longest_edge), or run it on a machine with more memory free")
    return "; or ".join(fixes)


def _size_fix(image: tuple[int, int], tensor: tuple[int, int], *, pixels: int) -> str:
    """How to make the image's tensor at most ``pixels``: resize it (its size is the tensor's), else crop it."""
    if tensor == image:
        scale = math.sqrt(pixels / max(1, image[0] * image[1]))
        example = f"{int(image[0] * scale)}x{int(image[1] * scale)}"
        return f"resize the image to at most {pixels:,} pixels (e.g. {example}) before running it"
    ratio = pixels / max(1, min(tensor) ** 2)
    return (f"crop the image to a less elongated shape (its preprocessed input may have at most {pixels:,} pixels: "
            f"an aspect ratio of at most {ratio:.1f}:1 at its {min(tensor)}-pixel short side)")


def attention_max_image_pixels(record: InputRecord, preprocessor: Preprocessor, *,
                            budget: int = SERVED_ATTENTION_BYTES) -> int | None:
    """The most pixels a served image may have for its attention to stay within ``budget`` on ONNX Runtime at
    batch 1, for a dynamic-resolution artifact whose recipe keeps each image's size (its tensor is the image); None
    for any other (a fixed size, a resize; a manifest without ``num_attention_heads``)."""
    held, heads = scores_held(SERVED_BACKEND), record.num_attention_heads
    keeps_size = not preprocessor.do_resize and preprocessor.fixed_output_size is None
    if not record.dynamic_resolution or not keeps_size or held is None or heads is None:
        return None
    return max(1, pixels_for(record, max_tokens(budget, batch=1, heads=heads, held=held)))


def check_served_attention(image_size: tuple[int, int], *, preprocessor: Preprocessor, record: InputRecord,
                           budget: int = SERVED_ATTENTION_BYTES) -> None:
    """ImageTooLargeError when a served image's tensor, under a recipe whose resize follows the aspect ratio
    (``shortest_edge``), would make an attention larger than ``budget`` on ONNX Runtime at batch 1. Recipes that keep
    each image's size are bounded by the repository's pixel limit (``attention_max_image_pixels``) instead."""
    held, heads = scores_held(SERVED_BACKEND), record.num_attention_heads
    follows_aspect = preprocessor.do_resize and preprocessor.fixed_output_size is None
    if not record.dynamic_resolution or not follows_aspect or held is None or heads is None:
        return
    height, width = preprocessor.output_size(*image_size)
    tokens = image_tokens(record, height, width)
    needed = attention_bytes(batch=1, tokens=tokens, heads=heads, held=held)
    if needed <= budget:
        return
    fix = _size_fix(image_size, (height, width),
                    pixels=pixels_for(record, max_tokens(budget, batch=1, heads=heads, held=held)))
    raise ImageTooLargeError(
        f"{_described(image_size, (height, width), batch=1, tokens=tokens)}: the attention would take about "
        f"{needed / _MiB:,.0f} MiB, over this server's limit of {budget / _MiB:,.0f} MiB per image; {fix}")
