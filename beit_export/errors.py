"""Export-side errors; all derive from beit_runtime's BeitDeployError so one except catches everything."""

from __future__ import annotations

from beit_runtime import errors as runtime_errors
from beit_runtime.errors import BeitDeployError


class ExportError(BeitDeployError):
    """The export could not be completed; the message says why and what to change."""


class ModelLoadError(ExportError):
    """--model names nothing loadable: a missing folder, an unknown hub id, or an offline cache miss."""


class CheckpointConfigError(ModelLoadError):
    """A --model folder's config.json or preprocessor_config.json holds a value no model can be built from,
    or its weights do not fit its config.json; the message names the file, the field and what is expected."""


class OutputPathError(ExportError):
    """--output names a path that cannot be written (its folder is a file, not writable) or would destroy an input."""


class OutputWriteError(ExportError, runtime_errors.OutputWriteError):
    """Writing the artifact failed for a reason of the machine, not of the path (disk full, I/O error): the
    runtime's OutputWriteError (an OSError keeping ``errno``) raised by an export."""


class UnsupportedCheckpointError(ExportError):
    """The checkpoint's architecture or task is not one beit-deploy exports."""


class GraphCheckError(ExportError):
    """An exported ONNX graph contains something it must not (index-building ops, unsupported ops)."""


class TensorRTCompatibilityError(GraphCheckError):
    """A graph uses an op, attribute, dtype or opset the TensorRT ONNX parser does not accept."""


class ParityError(ExportError):
    """The exported graph's outputs differ from PyTorch beyond the stated tolerances."""

    def __init__(self, message: str, *, report: dict | None = None) -> None:
        super().__init__(message)
        self.report = report or {}
