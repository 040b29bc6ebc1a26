"""What the python models share: reading their folder and parameters, per-request error responses,
and the numpy guard.

Errors are returned per request (``InferenceResponse(error=...)``), never raised from ``execute``: a
raised exception fails every request of the dynamic batch, a returned one only its own request.
beit_runtime's typed input errors become INVALID_ARG (HTTP 400 / gRPC INVALID_ARGUMENT) and carry
their class name (``serving_protocol.tag_error``); anything else is INTERNAL.

numpy guard: with numpy 2 in the stub's interpreter, Triton 2.51's python backend reads input tensors
wrongly and sends back empty outputs with status 200, silently (measured). ``check_numpy`` refuses to
load a model under numpy >= 2 unless ``BEIT_TRITON_ALLOW_NUMPY2=1`` says this Triton build is known to
be fine with it, so the failure is loud, at load time, and names the fix.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

from ..errors import BeitDeployError, ImageError, InputError
from ..manifest import Manifest, load_manifest
from ..serving_protocol import ARTIFACT_FOLDER, tag_error

ALLOW_NUMPY2 = "BEIT_TRITON_ALLOW_NUMPY2"
Outputs = Mapping[str, np.ndarray]


def check_numpy() -> None:
    """Refuse numpy >= 2 in the stub (see the module docstring)."""
    if int(np.__version__.split(".")[0]) >= 2 and os.environ.get(ALLOW_NUMPY2) != "1":
        raise RuntimeError(
            f"numpy {np.__version__} in Triton's python backend: Triton 2.51's stub corrupts tensors with numpy 2. "
            "Serve with an interpreter that has numpy<2 (`beit-serve --setup` makes one; in a container: "
            f"pip install 'numpy<2'), or set {ALLOW_NUMPY2}=1 if your Triton build supports numpy 2"
        )


def version_folder(args: Mapping[str, str]) -> Path:
    return Path(args["model_repository"]) / args["model_version"]


def model_parameters(args: Mapping[str, str]) -> dict[str, str]:
    """The string values of the config's ``parameters`` block."""
    config = json.loads(args["model_config"])
    return {key: value.get("string_value", "") for key, value in (config.get("parameters") or {}).items()}


def artifact_manifest(args: Mapping[str, str], *, verify_files: bool) -> Manifest:
    """The manifest of the artifact copy in this model's version folder."""
    return load_manifest(version_folder(args) / ARTIFACT_FOLDER, verify_files=verify_files)


def error_response(error: BaseException, *, where: str) -> Any:
    """A per-request error response: INVALID_ARG for bad inputs, INTERNAL for the rest."""
    invalid = isinstance(error, (ImageError, InputError))
    text = tag_error(error) if isinstance(error, BeitDeployError) else f"{type(error).__name__}: {error}"
    message = f"{where}: {text}"
    code = pb_utils.TritonError.INVALID_ARG if invalid else pb_utils.TritonError.INTERNAL
    return pb_utils.InferenceResponse(error=pb_utils.TritonError(message, code))


def input_array(request: Any, name: str) -> np.ndarray:
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        raise InputError(f"the request has no input '{name}'")
    return np.asarray(tensor.as_numpy())


def check_finite(name: str, value: np.ndarray) -> np.ndarray:
    """``value``, or InputError when a float input holds NaN or infinity (no image gives such values; a request
    sent straight to an inner model, or an engine whose fp16 outputs overflowed, can)."""
    if value.dtype.kind == "f" and not np.isfinite(value).all():
        raise InputError(f"input '{name}' holds NaN or infinite values, which no image gives: send finite values "
                         "(pixel_values as the preprocess model makes them, logits as the engine returns them)")
    return value


def response(outputs: Outputs) -> Any:
    return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(name, value) for name, value in outputs.items()])


def responses(results: Sequence[Outputs | BaseException], *, where: str) -> list[Any]:
    """One response per request: outputs, or the error that request met."""
    return [error_response(item, where=where) if isinstance(item, BaseException) else response(item)
            for item in results]
