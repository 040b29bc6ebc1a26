"""What a repository written by ``beit-export triton``, its python models and the clients agree on.

Models of a repository for artifact NAME: ``NAME`` (the ensemble clients call), ``NAME_preprocess``,
``NAME_engine`` and ``NAME_postprocess`` (masked image modeling: only preprocess and engine). The
ensemble carries the task, labels and top-k as config parameters (``PARAMETER_*``) so a client can
check what it talks to. Errors raised on purpose by beit_runtime inside a python model travel in the
message as ``[beit_runtime.ClassName] message`` (``tag_error``), so a client can raise the same typed
error (``tagged_error_class``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .. import errors as runtime_errors

IMAGE_INPUT = "image"
PIXEL_VALUES = "pixel_values"
ORIGINAL_SIZE = "original_size"
CLASSIFICATION_OUTPUTS = ("labels", "scores", "class_ids")
SEGMENTATION_OUTPUT = "segmentation"
EMBEDDING_OUTPUT = "embedding"
TASK_OUTPUTS = {
    "image-classification": CLASSIFICATION_OUTPUTS,
    "semantic-segmentation": (SEGMENTATION_OUTPUT,),
    "backbone": (EMBEDDING_OUTPUT,),
}
ENSEMBLE_TASKS = tuple(TASK_OUTPUTS)  # masked-image-modeling is served engine-only

PARAMETER_TASK = "beit_task"
PARAMETER_LABELS = "beit_labels"
PARAMETER_TOP_K = "beit_top_k"
PARAMETER_VERSION = "beit_deploy_version"
PARAMETER_PRECISION = "precision"
PARAMETER_INTRA_OP_THREADS = "intra_op_threads"

ARTIFACT_FOLDER = "artifact"  # inside a python model's version folder: manifest.json and the graphs it needs
REPOSITORY_RECORD = "repository.json"

_TAG = re.compile(r"\[beit_runtime\.(\w+)\] ")


def model_names(name: str) -> dict[str, str]:
    """Role -> Triton model name for the artifact served as ``name``."""
    return {"ensemble": name, "preprocess": f"{name}_preprocess", "engine": f"{name}_engine",
            "postprocess": f"{name}_postprocess"}


def backbone_inputs(graphs: Mapping[str, Mapping]) -> list[str]:
    """The engine outputs ``pooled_embedding`` needs from a backbone: its pooler output, else the hidden states."""
    names = [spec["name"] for spec in graphs["fp32"]["outputs"]]
    return ["pooler_output"] if "pooler_output" in names else ["last_hidden_state"]


def tag_error(error: BaseException) -> str:
    """``[beit_runtime.ImageDecodeError] message``: a server-side error message a client can map back."""
    return f"[beit_runtime.{type(error).__name__}] {error}"


def tagged_error_class(message: str) -> type[runtime_errors.BeitDeployError] | None:
    """The beit_runtime error class a tagged message names (a subclass of BeitDeployError), else None."""
    match = _TAG.search(message)
    candidate = getattr(runtime_errors, match.group(1), None) if match else None
    if isinstance(candidate, type) and issubclass(candidate, runtime_errors.BeitDeployError):
        return candidate
    return None
