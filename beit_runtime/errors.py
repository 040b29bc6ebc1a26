"""The package's error hierarchy: every failure a user can cause has a typed error here.

Each message says what was expected and how to fix it. ``beit_export`` subclasses these
for export-side failures so that callers can catch ``BeitDeployError`` for everything. A missing optional
module is told with ``missing_extra`` (the ``pip install "beit-deploy[EXTRA]"`` that installs it).
"""

from __future__ import annotations


class BeitDeployError(Exception):
    """Base class of every error raised on purpose by beit-deploy."""


class ArtifactError(BeitDeployError):
    """An artifact folder is missing, incomplete, of an unknown schema, or tampered with."""


class ManifestError(ArtifactError):
    """manifest.json is missing, unreadable, or does not follow a known schema version."""


class PreprocessingRecordError(ManifestError):
    """The manifest's preprocessing record holds a value the runtime cannot preprocess with; ``reason`` names
    the field and the value (what an exporter checking a recipe repeats)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class ArtifactIntegrityError(ArtifactError):
    """A file named in the manifest is missing or its hash does not match."""


class UnsafeArtifactPathError(ArtifactError):
    """A file an artifact names (in its manifest or as ONNX external data) would lie outside its folder."""


class InputError(BeitDeployError, ValueError):
    """What a caller passed cannot be used: tensors fed to an engine, options passed to a task class, or an image
    (``ImageError``, the subclass to catch for a bad image alone: a command line tells it apart from bad usage)."""


class ImageError(InputError):
    """An image could not be used as model input: an ``InputError`` (the caller's input), so ``except
    InputError`` also rejects a corrupt or empty upload. ``index``: its position in the list a call was given
    (None for one image), so a service can reject that one upload and run the others."""

    index: int | None = None


class ImageDecodeError(ImageError):
    """A path or encoded buffer could not be read or decoded as an image."""


class ImageFormatError(ImageError):
    """A decoded array has an unsupported dtype, shape, channel count or value range."""


class OutputUnavailableError(ArtifactError):
    """The artifact (or served repository) was exported without an output a call asks for (hidden states,
    attention weights of a layer); the message names the ``beit-export`` flag that adds it."""


class OutputWriteError(BeitDeployError, OSError):
    """An output file could not be written (disk full, no permission, a folder in its way); nothing
    half-written was left under its name. ``errno`` and ``filename`` are the failed write's."""

    def __str__(self) -> str:  # the message, not OSError's "[Errno N] ..." rendering of errno and filename
        return str(self.args[0]) if self.args else super().__str__()


class OutputTooLargeError(InputError):
    """An output (attention weights) would not fit in the memory available; the message says how to shrink it."""


class ImageTooLargeError(ImageError):
    """An image makes so many tokens that the attention over them would not fit in the memory available (a
    ``--dynamic-resolution`` artifact whose recipe does not fix the tensor size); refused before it runs, with the
    size that fits (``beit_runtime.attention_memory``). An ImageError, so a folder run fails that image alone."""


class DatasetError(BeitDeployError, ValueError):
    """A folder of images given as data (calibration, evaluation) has no usable image, a class folder that is
    not one of the artifact's labels, or a mask that does not fit its image."""


class BackendUnavailableError(BeitDeployError, ImportError):
    """An optional backend (TensorRT, CUDA, onnxruntime-gpu) is not installed or not usable here."""


class EngineMismatchError(ArtifactError):
    """A serialized engine was built for another GPU or library version than the one present."""


class PrecisionUnavailableError(BackendUnavailableError):
    """The requested precision needs hardware or a backend this machine or call does not have (e.g. bf16 units)."""


class ServerError(BeitDeployError):
    """A Triton server failed a request for a reason other than the request's inputs (``beit_runtime.remote``,
    ``beit-serve``); the subclasses say when no server answered or an answer did not come in time."""


class ServerUnavailableError(ServerError):
    """No Triton server answers at the URL (not started, wrong address or port, still starting)."""


class ServerTimeoutError(ServerError):
    """The server did not answer a request, or did not get a model ready, within the time allowed."""


class ServeSetupError(BeitDeployError):
    """``beit-serve --setup`` could not prepare the server or its Python environment."""


class ServeOptionError(BeitDeployError, ValueError):
    """A ``beit-serve`` option is out of range or one the chosen tritonserver cannot honour."""


class ClusterUnavailableError(BeitDeployError, ConnectionError):
    """No Ray cluster could be joined at the address given (``--ray ADDRESS``, ``run_on_ray(address=...)``)."""


class ModelClosedError(BeitDeployError, RuntimeError):
    """A task class was called after ``close()`` (or after its ``with`` block ended): a fault of the program
    using it, not of the images given."""


class EngineRunError(BeitDeployError, RuntimeError):
    """The engine failed while running inputs that passed its checks (names, dtypes, shapes): a fault of the graph
    or of the engine, not of the images given; the message names the graph, the input shapes and the engine's
    own words."""


# the optional modules beit-deploy imports, by top-level name -> (the distribution pyproject.toml lists for it, the
# extra that installs it; None: beit-deploy itself); tests/runtime/test_errors.py checks it against pyproject.toml
OPTIONAL_MODULES: dict[str, tuple[str, str | None]] = {
    "onnxruntime": ("onnxruntime", None),
    "torch": ("torch", "export"), "transformers": ("transformers", "export"), "onnx": ("onnx", "export"),
    "onnxscript": ("onnxscript", "export"), "huggingface_hub": ("huggingface_hub", "export"),
    "safetensors": ("safetensors", "export"), "skimage": ("scikit-image", "export"),
    "sklearn": ("scikit-learn", "export"), "yaml": ("pyyaml", "export"),
    "openvino": ("openvino", "openvino"), "tensorrt": ("tensorrt", "tensorrt"), "cuda": ("cuda-python", "tensorrt"),
    "tritonclient": ("tritonclient", "triton"), "grpc": ("grpcio", "triton"), "ray": ("ray", "ray"),
    "matplotlib": ("matplotlib", "bench"),
}


def pip_install(extra: str | None = None) -> str:
    """The command that installs beit-deploy with ``extra`` (None: alone), quoted so that every shell takes the
    brackets as they are (zsh reads unquoted ones as a file pattern)."""
    return f'pip install "beit-deploy[{extra}]"' if extra else "pip install beit-deploy"


def missing_extra(module: str, extra: str | None, *, needed_by: str = "") -> str:
    """The message of an optional ``module`` that is not installed: what needs it (``needed_by``), and the command
    of the ``extra`` that installs it."""
    missing = f"{needed_by} needs {module}, which is not installed" if needed_by else f"{module} is not installed"
    return f"{missing}; install it with `{pip_install(extra)}`"


def missing_module_message(error: ImportError) -> str:
    """The message of an ImportError a command reports: ``missing_extra``'s for a ModuleNotFoundError of an
    optional module (``OPTIONAL_MODULES``; not of a module inside one, which is a broken install), else its own."""
    name = getattr(error, "name", None) or ""
    if not isinstance(error, ModuleNotFoundError) or name not in OPTIONAL_MODULES:
        return str(error)
    return missing_extra(name, OPTIONAL_MODULES[name][1])
