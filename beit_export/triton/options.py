"""``TritonRepositoryOptions``: every choice ``beit-export triton`` makes, validated when made.

Defaults: the onnxruntime backend (what stock Triton builds and the NGC containers have), fp32, CPU
instances, ``max_batch_size`` 8 with a 2 ms queue delay (long enough on a busy server to form
batches, short next to a BEiT-base forward pass), one instance per model, top-5.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from beit_runtime.attention_memory import (
    SERVED_ATTENTION_BYTES,
    SERVED_BACKEND,
    attention_bytes,
    attention_max_image_pixels,
    scores_held,
)
from beit_runtime.device_input import FUSED_VARIANT
from beit_runtime.errors import InputError
from beit_runtime.manifest import Manifest
from beit_runtime.preprocess import Preprocessor
from beit_runtime.serving_protocol import DEFAULT_MAX_IMAGE_PIXELS, SEGMENTATION_LOGITS_BYTES, at_image_size
from beit_runtime.tasks import task

from ..options import ExportOptionsError

MODEL_BACKENDS = ("onnxruntime", "tensorrt", "python")
PRECISIONS = ("fp32", "fp16", "int8", "auto")  # auto: the serving machine's plan (python backend only)
AUTO = "auto"
KINDS = ("cpu", "gpu")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class TritonOptionsError(ExportOptionsError):
    """An option of ``beit-export triton`` cannot be used; the message names the accepted values."""


def _positive(name: str, value: object, *, allow_zero: bool = False) -> None:
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise TritonOptionsError(f"{name} must be an integer >= {low}, got {value!r}")


def _check_plan(path: Path) -> None:
    """TritonOptionsError naming --plan unless ``path`` is a plan file ``beit-run tune`` wrote."""
    from beit_runtime.planning import read_plan

    if not path.is_file():
        raise TritonOptionsError(f"--plan {path} does not exist or is not a file; write one with "
                                 "`beit-run tune ARTIFACT --plan PATH`")
    try:
        read_plan(path)
    except InputError as error:
        raise TritonOptionsError(f"--plan {path} is not a usable plan: {error}") from None


@dataclass(frozen=True)
class TritonRepositoryOptions:
    """How to serve an artifact; ``name=None`` takes a name from the artifact folder."""

    name: str | None = None
    precision: str = "fp32"
    model_backend: str = "onnxruntime"
    max_batch_size: int = 8
    instances: int = 1
    kind: str = "cpu"
    max_queue_delay_us: int = 2000
    preferred_batch_sizes: tuple[int, ...] = ()
    top_k: int = 5
    intra_op_threads: int = 0
    execution_env: str | None = None
    plan: Path | None = None  # with precision "auto": a plan file (beit-run tune --plan) carried into the engine
    warmup: bool = True  # model_warmup: one real image through every model before Triton says ready (warmup.py)
    fused_attention: bool = False  # serve the fp16-fused graph (export --fp16 --fused-attention): ONNX Runtime only
    # the largest image the preprocess model accepts (width x height); None: ``default_max_image_pixels``
    max_image_pixels: int | None = None

    def __post_init__(self) -> None:
        for field, allowed in (("precision", PRECISIONS), ("model_backend", MODEL_BACKENDS), ("kind", KINDS)):
            if getattr(self, field) not in allowed:
                value = getattr(self, field)
                raise TritonOptionsError(f"{field.replace('_', '-')} must be one of {allowed}, got {value!r}")
        if self.name is not None and not _NAME.match(self.name):
            raise TritonOptionsError(
                f"--name {self.name!r} is not a usable Triton model name: letters, digits, '_', '-', '.', not first"
            )
        self._check_auto()
        self._check_fused()
        _positive("--max-batch-size", self.max_batch_size)
        _positive("--instances", self.instances)
        _positive("--top-k", self.top_k)
        if self.max_image_pixels is not None:
            _positive("--max-image-pixels", self.max_image_pixels)
        _positive("--max-queue-delay-us", self.max_queue_delay_us, allow_zero=True)
        _positive("--intra-op-threads", self.intra_op_threads, allow_zero=True)
        object.__setattr__(self, "preferred_batch_sizes", tuple(self.preferred_batch_sizes))
        for size in self.preferred_batch_sizes:
            _positive("--preferred-batch-sizes", size)
            if size > self.max_batch_size:
                raise TritonOptionsError(
                    f"--preferred-batch-sizes {size} exceeds --max-batch-size {self.max_batch_size}; "
                    "lower it or raise the max"
                )
        if self.model_backend == "tensorrt" and self.kind != "gpu":
            raise TritonOptionsError("--model-backend tensorrt runs TensorRT plans, which need a GPU: add --kind gpu")

    def _check_auto(self) -> None:
        if self.precision == AUTO and self.model_backend != "python":
            raise TritonOptionsError(
                "--precision auto follows the serving machine's plan inside beit_runtime: use --model-backend python "
                "(Triton's onnxruntime/tensorrt backends load one fixed graph)"
            )
        if self.plan is not None and self.precision != AUTO:
            raise TritonOptionsError("--plan is followed by --precision auto only; add --precision auto")
        if self.plan is not None:
            _check_plan(Path(self.plan))

    def _check_fused(self) -> None:
        if not isinstance(self.fused_attention, bool):
            raise TritonOptionsError(f"fused_attention must be True or False, got {self.fused_attention!r}")
        if self.fused_attention and self.precision != "fp16":
            raise TritonOptionsError(f"--fused-attention serves the fp16-fused graph: use --precision fp16, "
                                     f"not {self.precision}")
        if self.fused_attention and self.model_backend == "tensorrt":
            raise TritonOptionsError("--fused-attention serves ONNX Runtime contrib ops, which TensorRT plans do not "
                                     "hold: use --model-backend onnxruntime or python")

    def check_plan_for(self, manifest: Manifest) -> None:
        """TritonOptionsError naming --plan when it was made for another artifact than ``manifest``'s: the
        served engine would refuse it and quietly run fp32 (``beit_runtime.planning``'s own check and reason)."""
        if self.plan is None:
            return
        from beit_runtime.planning.plan import another_artifact, read_plan

        refused = another_artifact(read_plan(Path(self.plan)), digest=manifest.files_digest)
        if refused:
            raise TritonOptionsError(f"--plan {self.plan} cannot be served with {manifest.folder}: {refused}")

    @property
    def graph_variant(self) -> str:
        """The graph whose tensors the configs describe: fp32 for "auto" (every variant has its float I/O),
        fp16-fused with ``fused_attention``."""
        if self.fused_attention:
            return FUSED_VARIANT
        return "fp32" if self.precision == AUTO else self.precision

    @property
    def export_flags(self) -> str:
        """The ``beit-export`` flags that write the graph this repository serves."""
        return "--fp16 --fused-attention" if self.fused_attention else f"--{self.graph_variant}"


def default_max_image_pixels(manifest: Manifest) -> int:
    """The largest image a repository of ``manifest`` accepts when ``--max-image-pixels`` is not given:
    ``DEFAULT_MAX_IMAGE_PIXELS``, and at most
    - for a task answered at each image's size (segmentation), what keeps one image's float32 logits at that size
      within ``SEGMENTATION_LOGITS_BYTES`` (the postprocess model resizes them whole before its argmax: 150 classes
      at 25 Mpx would be 15 GB per image);
    - for a ``--dynamic-resolution`` artifact whose recipe keeps each image's size, what keeps one image's attention
      on ONNX Runtime within ``SERVED_ATTENTION_BYTES`` (``beit_runtime.attention_memory.attention_max_image_pixels``:
      a 12-head model with 16-pixel patches, 855,808 pixels; at 25 Mpx one photo's attention alone would take
      terabytes). A manifest written before the input record had ``num_attention_heads`` keeps the general default.
    """
    largest = DEFAULT_MAX_IMAGE_PIXELS
    if at_image_size(task(manifest.task)):
        largest = min(largest, SEGMENTATION_LOGITS_BYTES // (4 * max(1, len(manifest.labels))))
    attention = attention_max_image_pixels(manifest.input, Preprocessor.from_manifest(manifest))
    return largest if attention is None else min(largest, attention)


def served_max_image_pixels(manifest: Manifest, options: TritonRepositoryOptions) -> int:
    """The largest image the repository accepts: ``--max-image-pixels`` when given, else the default for the task.
    TritonOptionsError when the given value is more than the attention of an artifact whose recipe keeps each
    image's size allows (that limit is the only check of such an image's attention on the server)."""
    if options.max_image_pixels is None:
        return default_max_image_pixels(manifest)
    _check_attention_allows(manifest, options.max_image_pixels)
    return options.max_image_pixels


def _check_attention_allows(manifest: Manifest, pixels: int) -> None:
    largest = attention_max_image_pixels(manifest.input, Preprocessor.from_manifest(manifest))
    if largest is None or pixels <= largest:
        return
    record, held = manifest.input, float(scores_held(SERVED_BACKEND) or 1.0)
    heads = int(record.num_attention_heads or 1)
    tokens = -(-pixels // record.patch_size**2) + record.special_tokens  # at most, rounded up
    needed = attention_bytes(batch=1, tokens=tokens, heads=heads, held=held)
    raise TritonOptionsError(
        f"--max-image-pixels {pixels:,} is more than {manifest.folder.name} can serve: its --dynamic-resolution "
        f"recipe keeps each image's size, and above {largest:,} pixels one image's attention on ONNX Runtime would "
        f"take more than the {SERVED_ATTENTION_BYTES // 2**20:,} MiB per image a served model allows (at "
        f"{pixels:,} pixels up to {tokens:,} tokens, about {needed / 2**20:,.0f} MiB: the server would be killed); "
        f"use --max-image-pixels {largest} or less, or re-export the artifact with a recipe that resizes (a fixed "
        "size, a centre crop or a shortest_edge)")


def capped_default_note(manifest: Manifest, options: TritonRepositoryOptions) -> str | None:
    """A line saying that the pixel limit served by default is below ``DEFAULT_MAX_IMAGE_PIXELS``, and why
    (None when ``--max-image-pixels`` is given or the photo default is served)."""
    served = default_max_image_pixels(manifest)
    if options.max_image_pixels is not None or served >= DEFAULT_MAX_IMAGE_PIXELS:
        return None
    attention = attention_max_image_pixels(manifest.input, Preprocessor.from_manifest(manifest))
    why = (f"its --dynamic-resolution recipe keeps each image's size, and that keeps one image's attention within "
           f"{SERVED_ATTENTION_BYTES // 2**20:,} MiB on ONNX Runtime" if attention == served else
           f"that keeps one image's float32 logits at its size within {SEGMENTATION_LOGITS_BYTES // 2**20:,} MiB")
    return (f"serving images of at most {served:,} pixels (--max-image-pixels; the photo default "
            f"{DEFAULT_MAX_IMAGE_PIXELS:,} is capped for memory): {why}; larger images are refused")
