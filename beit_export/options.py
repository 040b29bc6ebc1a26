"""``ExportOptions``: every choice ``export_artifact`` takes, validated once when the object is made.

The CLI builds one from its arguments (``beit_export.cli.export``); the pipeline reads it; the
manifest's ``export`` record is written from ``ExportOptions.record()``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from beit_runtime.datasets.discovery import not_a_folder

from .errors import ExportError

# The values two options accept, kept here (not beside the code that uses them) so that the command line
# can check its arguments without importing torch: `beit-export --help` and usage errors stay fast.
MIN_OPSET = 18  # LayerNormalization as one node needs >= 17; the exporter is checked at 18
INT8_MODES = ("static", "dynamic")


class ExportOptionsError(ExportError):
    """An export option has a value the exporter cannot use; the message names the accepted values."""


def cli_flag(name: str) -> str:
    """The ``beit-export`` flag of an ``ExportOptions`` field (``calibration_size`` -> ``--calibration-size``)."""
    return "--" + name.replace("_", "-")


@dataclass(frozen=True)
class ExportOptions:
    """What to export besides the fp32 graph, and how.

    ``fp16`` / ``int8`` add reduced-precision graphs (``int8_mode`` "static", the default with ``int8``:
    QDQ calibrated on photos, for ONNX Runtime and TensorRT; "dynamic": ONNX Runtime CPU only; None
    without ``int8``, and an explicit mode without ``int8`` is refused). ``tensorrt`` makes TensorRT
    compatibility a hard gate and builds an engine here (needs TensorRT and a GPU).
    ``dynamic_resolution`` exports graphs that accept any height/width in whole patches. ``seed``
    seeds the parity inputs; ``photos`` adds scikit-image photos to the parity cases. ``overwrite``
    replaces an earlier artifact or an empty folder (only once the new artifact is complete).

    The user's own images: ``calibration_data`` (a folder, searched recursively) calibrates static int8 on
    a deterministic sample of ``calibration_size`` of its images instead of the shipped photos;
    ``parity_data`` adds a sample of ``parity_size`` of its images to the parity cases (default: the
    calibration folder, when given). The manifest records counts and a digest of the file list, never
    the images or the folders' paths.
    """

    fp16: bool = False
    int8: bool = False
    int8_mode: str | None = None  # "static" when int8 is on and no mode is given
    tensorrt: bool = False
    dynamic_resolution: bool = False
    opset: int = MIN_OPSET
    seed: int = 0
    photos: bool = True
    overwrite: bool = False
    calibration_data: Path | None = None
    calibration_size: int = 256
    parity_data: Path | None = None
    parity_size: int = 32
    fused_attention: bool = False  # also an fp16 graph with MultiHeadAttention nodes (ONNX Runtime GPU)
    fused_norms: bool = False  # that graph also with ONNX Runtime's LayerNorm/GELU fusions (fp16 residual stream)
    uint8_input: bool = False  # also uint8-input copies of the float graphs (normalisation in the graph)
    # optional graph outputs ("hidden_states", "attentions"; a list or "a,b") and which layers' attentions
    # ("all", "last", layer numbers; None: the task's default), ``beit_export.outputs``
    outputs: str | tuple[str, ...] = ()
    attention_layers: str | tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("fp16", "int8", "tensorrt", "dynamic_resolution", "photos", "overwrite", "fused_attention",
                     "fused_norms", "uint8_input"):
            if not isinstance(getattr(self, name), bool):
                raise ExportOptionsError(f"{name} must be True or False, got {getattr(self, name)!r}")
        self._check_int8_mode()
        if isinstance(self.opset, bool) or not isinstance(self.opset, int) or self.opset < MIN_OPSET:
            raise ExportOptionsError(
                f"opset {self.opset!r} is too old: LayerNormalization as one node needs >= 17 and the exporter is "
                f"checked at >= {MIN_OPSET}; use --opset {MIN_OPSET}"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ExportOptionsError(f"--seed must be a non-negative integer, got {self.seed!r}")
        self._check_user_data()
        self._check_extra_outputs()

    def _check_int8_mode(self) -> None:
        if self.int8_mode is not None and self.int8_mode not in INT8_MODES:
            raise ExportOptionsError(f"--int8-mode must be one of {INT8_MODES}, got {self.int8_mode!r}")
        if self.int8_mode is not None and not self.int8:
            raise ExportOptionsError(f"--int8-mode {self.int8_mode} chooses how the int8 graph is made, and without "
                                     "--int8 none is written: add --int8, or drop --int8-mode")
        if self.int8 and self.int8_mode is None:
            object.__setattr__(self, "int8_mode", "static")

    def _check_extra_outputs(self) -> None:
        from .outputs import parse_attention_layers, parse_outputs  # imports this module's error

        object.__setattr__(self, "outputs", parse_outputs(self.outputs))
        layers = self.attention_layers
        object.__setattr__(self, "attention_layers", parse_attention_layers(
            ",".join(map(str, layers)) if isinstance(layers, (tuple, list)) else layers))
        if self.attention_layers is not None and "attentions" not in self.outputs:
            raise ExportOptionsError("--attention-layers chooses the layers of the attentions output: add "
                                     "--outputs attentions, or drop --attention-layers")
        if self.fused_norms and not self.fused_attention:
            raise ExportOptionsError("--fused-norms changes how the fused-attention graph is built: add "
                                     "--fused-attention (and --fp16), or drop --fused-norms")
        if self.fused_attention and "attentions" in self.outputs:
            raise ExportOptionsError("--fused-attention fuses the softmax away, so that graph cannot output attention "
                                     "weights: drop --fused-attention or export the attentions in another artifact")

    def _check_user_data(self) -> None:
        for name in ("calibration_size", "parity_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ExportOptionsError(f"{cli_flag(name)} must be a positive number of images, got {value!r}")
        if self.calibration_data is not None and not (self.int8 and self.int8_mode == "static"):
            raise ExportOptionsError(
                "calibration data is used by static int8 only: add --int8 (and no --int8-mode dynamic), "
                "or drop --calibration-data"
            )
        for name in ("calibration_data", "parity_data"):
            folder = getattr(self, name)
            problem = "" if folder is None else not_a_folder(Path(folder))
            if problem:
                raise ExportOptionsError(f"{cli_flag(name)} {folder} {problem}; pass a folder of images")

    @property
    def parity_folder(self) -> Path | None:
        """The folder of the user's parity images: ``parity_data``, else the calibration folder, else none."""
        folder = self.parity_data or self.calibration_data
        return None if folder is None else Path(folder)

    @property
    def variants(self) -> tuple[str, ...]:
        """The model graph variants this export writes, fp32 first."""
        return ("fp32",) + (("fp16",) if self.fp16 else ()) + (("int8",) if self.int8 else ())

    def record(self) -> dict:
        """The options that describe the artifact, for the manifest's ``export`` record."""
        values = asdict(self)
        # how the folder was written, and where the user keeps images: not what the artifact holds
        for name in ("overwrite", "calibration_data", "calibration_size", "parity_data", "parity_size",
                     "outputs", "attention_layers"):  # the optional outputs: the pipeline's extra_outputs record
            del values[name]
        if not self.int8:
            del values["int8_mode"]
        # recorded only when asked for (older records unchanged)
        for name in ("fused_attention", "fused_norms", "uint8_input"):
            if not values[name]:
                del values[name]
        return values
