"""``ExportOptions``: every choice ``export_artifact`` takes, validated once when the object is made.

The CLI builds one from its arguments (``beit_export.cli.export``); the pipeline reads it; the
manifest's ``export`` record is written from ``ExportOptions.record()``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .errors import ExportError
from .graph.export import MIN_OPSET
from .precision.int8 import INT8_MODES


class ExportOptionsError(ExportError):
    """An export option has a value the exporter cannot use; the message names the accepted values."""


@dataclass(frozen=True)
class ExportOptions:
    """What to export besides the fp32 graph, and how.

    ``fp16`` / ``int8`` add reduced-precision graphs (``int8_mode`` "static": QDQ calibrated on photos,
    for ONNX Runtime and TensorRT; "dynamic": ONNX Runtime CPU only). ``tensorrt`` makes TensorRT
    compatibility a hard gate and builds an engine here (needs TensorRT and a GPU).
    ``dynamic_resolution`` exports graphs that accept any height/width in whole patches. ``seed``
    seeds the parity inputs; ``photos`` adds scikit-image photos to the parity cases. ``overwrite``
    replaces a non-empty output folder (only once the new artifact is complete).
    """

    fp16: bool = False
    int8: bool = False
    int8_mode: str = "static"
    tensorrt: bool = False
    dynamic_resolution: bool = False
    opset: int = MIN_OPSET
    seed: int = 0
    photos: bool = True
    overwrite: bool = False

    def __post_init__(self) -> None:
        for name in ("fp16", "int8", "tensorrt", "dynamic_resolution", "photos", "overwrite"):
            if not isinstance(getattr(self, name), bool):
                raise ExportOptionsError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.int8_mode not in INT8_MODES:
            raise ExportOptionsError(f"int8 mode must be one of {INT8_MODES}, got {self.int8_mode!r}")
        if isinstance(self.opset, bool) or not isinstance(self.opset, int) or self.opset < MIN_OPSET:
            raise ExportOptionsError(
                f"opset {self.opset!r} is too old: LayerNormalization as one node needs >= 17 and the exporter is "
                f"checked at >= {MIN_OPSET}; use --opset {MIN_OPSET}"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ExportOptionsError(f"seed must be a non-negative integer, got {self.seed!r}")

    @property
    def variants(self) -> tuple[str, ...]:
        """The model graph variants this export writes, fp32 first."""
        return ("fp32",) + (("fp16",) if self.fp16 else ()) + (("int8",) if self.int8 else ())

    def record(self) -> dict:
        """The options that describe the artifact, for the manifest's ``export`` record."""
        values = asdict(self)
        del values["overwrite"]  # how the folder was written, not what it holds
        if not self.int8:
            del values["int8_mode"]
        return values
