"""Manifest sections that describe the model and the export: source, input, preprocessing, post-processing,
export options and file hashes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..errors import ManifestError
from ..tasks import DEFAULT_SCORE_FUNCTION, SCORE_FUNCTIONS
from .paths import REEXPORT_HINT
from .values import Fields, freeze, thaw

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class SourceRecord:
    """Where the weights came from."""

    model: str
    revision: str | None = None
    architecture: str = ""
    model_type: str = ""
    random_init: bool = False

    @classmethod
    def from_json(cls, data: object, where: str = "source") -> SourceRecord:
        fields = Fields(data, where)
        return cls(model=fields.text("model"), revision=fields.text("revision", None),
                   architecture=fields.text("architecture", ""), model_type=fields.text("model_type", ""),
                   random_init=fields.flag("random_init", False))

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "revision": self.revision, "architecture": self.architecture,
                "model_type": self.model_type, "random_init": self.random_init}


@dataclass(frozen=True)
class InputRecord:
    """The model's pixel input: native size, patch size, which axes are dynamic; ``special_tokens``: the tokens
    before the patches in the model's sequences (1: CLS; DeiT: 2, CLS and distillation); ``num_attention_heads``:
    the encoder's heads, which with the tokens size each layer's attention scores (``beit_runtime.attention_memory``;
    None in manifests written before it: their images' attention is not checked against the memory available)."""

    height: int
    width: int
    patch_size: int = 1
    dynamic_batch: bool = True
    dynamic_resolution: bool = False
    num_channels: int = 3
    special_tokens: int = 1
    num_attention_heads: int | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self.height, self.width

    @classmethod
    def from_json(cls, data: object, where: str = "input") -> InputRecord:
        fields = Fields(data, where)
        if fields.integer("special_tokens", 1) not in (1, 2):
            raise ManifestError(f"manifest {where}: 'special_tokens' must be 1 (CLS) or 2 (CLS and distillation), "
                                f"got {fields.data['special_tokens']!r}; {REEXPORT_HINT}")
        heads = fields.integer("num_attention_heads", None)
        if heads is not None and heads < 1:
            raise ManifestError(f"manifest {where}: 'num_attention_heads' must be at least 1, got {heads!r}; "
                                f"{REEXPORT_HINT}")
        return cls(height=fields.integer("height"), width=fields.integer("width"),
                   patch_size=fields.integer("patch_size", 1), dynamic_batch=fields.flag("dynamic_batch", True),
                   dynamic_resolution=fields.flag("dynamic_resolution", False),
                   num_channels=fields.integer("num_channels", 3),
                   special_tokens=fields.integer("special_tokens", 1), num_attention_heads=heads)

    def to_json(self) -> dict[str, Any]:
        data = {"height": self.height, "width": self.width, "patch_size": self.patch_size,
                "dynamic_batch": self.dynamic_batch, "dynamic_resolution": self.dynamic_resolution,
                "num_channels": self.num_channels}
        if self.special_tokens != 1:  # written only for DeiT, as the exporter records it
            data["special_tokens"] = self.special_tokens
        if self.num_attention_heads is not None:  # absent from manifests written before it
            data["num_attention_heads"] = self.num_attention_heads
        return data


@dataclass(frozen=True)
class PreprocessingRecord:
    """The checkpoint's image-processor recipe (``beit_runtime.preprocess.Preprocessor`` checks the values)."""

    do_resize: bool
    size: Mapping[str, int]
    resample: str
    do_rescale: bool
    rescale_factor: float
    do_normalize: bool
    image_mean: tuple[float, ...]
    image_std: tuple[float, ...]
    do_center_crop: bool = False
    crop_size: Mapping[str, int] | None = None
    channel_order: str = "rgb"
    do_reduce_labels: bool = False

    @classmethod
    def from_json(cls, data: object, where: str = "preprocessing") -> PreprocessingRecord:
        fields = Fields(data, where)
        crop = fields.mapping("crop_size", None)
        return cls(do_resize=fields.flag("do_resize"), size=freeze(fields.mapping("size")),
                   resample=fields.text("resample"), do_rescale=fields.flag("do_rescale"),
                   rescale_factor=float(fields.number("rescale_factor")), do_normalize=fields.flag("do_normalize"),
                   image_mean=tuple(fields.items("image_mean")), image_std=tuple(fields.items("image_std")),
                   do_center_crop=fields.flag("do_center_crop", False),
                   crop_size=None if crop is None else freeze(crop),
                   channel_order=fields.text("channel_order", "rgb"),
                   do_reduce_labels=fields.flag("do_reduce_labels", False))

    def to_json(self) -> dict[str, Any]:
        return {"do_resize": self.do_resize, "size": thaw(self.size), "resample": self.resample,
                "do_center_crop": self.do_center_crop, "crop_size": thaw(self.crop_size),
                "do_rescale": self.do_rescale, "rescale_factor": self.rescale_factor,
                "do_normalize": self.do_normalize, "image_mean": list(self.image_mean),
                "image_std": list(self.image_std), "channel_order": self.channel_order,
                "do_reduce_labels": self.do_reduce_labels}


@dataclass(frozen=True)
class PostprocessingRecord:
    """How raw outputs become results, where the task needs it (segmentation: upsample + argmax; classification:
    ``score``, one of ``SCORE_FUNCTIONS``, None in manifests written before it: softmax); else empty."""

    logits_stride: int | None = None
    resize: str | None = None
    align_corners: bool | None = None
    antialias: bool | None = None
    reduce: str | None = None
    num_labels: int | None = None
    fused_graph: str | None = None
    score: str | None = None

    @property
    def score_function(self) -> str:
        """The classifier's score function: ``score``, or softmax for a manifest that predates it."""
        return self.score or DEFAULT_SCORE_FUNCTION

    @classmethod
    def from_json(cls, data: object, where: str = "postprocessing") -> PostprocessingRecord:
        fields = Fields(data, where)
        score = fields.text("score", None)
        if score is not None and score not in SCORE_FUNCTIONS:
            raise ManifestError(f"manifest {where}: 'score' must be one of {', '.join(SCORE_FUNCTIONS)}, got "
                                f"{score!r}; {REEXPORT_HINT}")
        return cls(logits_stride=fields.integer("logits_stride", None), resize=fields.text("resize", None),
                   align_corners=fields.flag("align_corners", None), antialias=fields.flag("antialias", None),
                   reduce=fields.text("reduce", None), num_labels=fields.integer("num_labels", None),
                   fused_graph=fields.text("fused_graph", None), score=score)

    def to_json(self) -> dict[str, Any]:
        names = ("logits_stride", "resize", "align_corners", "antialias", "reduce", "num_labels", "fused_graph",
                 "score")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}


@dataclass(frozen=True)
class ExportRecord:
    """The export options the artifact was made with, and each graph's TensorRT compatibility report."""

    fp16: bool = False
    int8: bool = False
    int8_mode: str | None = None  # only with int8
    tensorrt: bool = False
    dynamic_resolution: bool = False
    opset: int | None = None
    seed: int | None = None
    photos: bool = True
    fused_attention: bool = False  # the fp16-fused graph (ONNX Runtime CUDA), --fused-attention
    fused_norms: bool = False  # that graph also with LayerNorm/GELU fusions, --fused-norms
    uint8_input: bool = False  # uint8-input copies of the float graphs, --uint8-input
    # the user's own images (--calibration-data / --parity-data): counts and a digest of the file list
    calibration: Mapping[str, Any] | None = None
    parity_data: Mapping[str, Any] | None = None
    # optional graph outputs (--outputs / --attention-layers): {"outputs": [names], "num_layers": int,
    # "attention_layers": [0-based layers]}; absent for a default export
    extra_outputs: Mapping[str, Any] | None = None
    tensorrt_compatibility: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: _EMPTY)

    @classmethod
    def from_json(cls, data: object, where: str = "export") -> ExportRecord:
        fields = Fields(data, where)
        return cls(fp16=fields.flag("fp16", False), int8=fields.flag("int8", False),
                   int8_mode=fields.text("int8_mode", None), tensorrt=fields.flag("tensorrt", False),
                   dynamic_resolution=fields.flag("dynamic_resolution", False), opset=fields.integer("opset", None),
                   seed=fields.integer("seed", None), photos=fields.flag("photos", True),
                   fused_attention=fields.flag("fused_attention", False), fused_norms=fields.flag("fused_norms", False),
                   uint8_input=fields.flag("uint8_input", False),
                   calibration=fields.frozen("calibration", None), parity_data=fields.frozen("parity_data", None),
                   extra_outputs=fields.frozen("extra_outputs", None),
                   tensorrt_compatibility=fields.frozen("tensorrt_compatibility", {}))

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"fp16": self.fp16, "int8": self.int8, "int8_mode": self.int8_mode,
                                "tensorrt": self.tensorrt, "dynamic_resolution": self.dynamic_resolution,
                                "opset": self.opset, "seed": self.seed, "photos": self.photos,
                                "tensorrt_compatibility": thaw(self.tensorrt_compatibility)}
        # written only when set, as the exporter records them
        for flag in ("fused_attention", "fused_norms", "uint8_input"):
            if getattr(self, flag):
                data[flag] = True
        for name in ("calibration", "parity_data", "extra_outputs"):
            if getattr(self, name) is not None:
                data[name] = thaw(getattr(self, name))
        if self.int8_mode is None:
            del data["int8_mode"]
        return data


@dataclass(frozen=True)
class FileRecord:
    """The size and sha256 of one artifact file, as written."""

    sha256: str
    bytes: int

    @classmethod
    def from_json(cls, data: object, where: str) -> FileRecord:
        fields = Fields(data, where)
        return cls(sha256=fields.text("sha256"), bytes=fields.integer("bytes"))

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "bytes": self.bytes}
