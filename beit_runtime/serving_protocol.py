"""The wire protocol of a served repository: what ``beit-export triton``, the python models inside Triton
and the remote clients agree on.

Why a module of its own, at the top of ``beit_runtime``: three audiences import it and none of them may
import another's package. The repository writer (``beit_export.triton``) writes these names into the
configs; the python models (``beit_runtime.triton_models``, run inside Triton's python stub) read their
parameters and tag their errors with them; the clients (``beit_runtime.remote``) send and check them.
It imports only the standard library, ``beit_runtime.errors`` and the task registry, so it loads in
every one of those places (the stub has no tritonclient, the clients have no Triton stub).

Models of a repository for artifact NAME: ``NAME`` (the ensemble clients call), ``NAME_preprocess``,
``NAME_engine`` and ``NAME_postprocess``; a task the registry does not serve (``Task.served`` false:
masked image modeling) gets only preprocess and engine. What the ensemble returns for a task is the
registry's ``Task.served_outputs``. The ensemble carries the task, labels, top-k and the writer's
version as config parameters (``PARAMETER_*``) so a client can check what it talks to. Errors raised on
purpose by beit_runtime inside a python model travel in the message as ``[beit_runtime.ClassName]
message`` (``tag_error``), so a client can raise the same typed error (``tagged_error_class``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from . import errors as runtime_errors
from .tasks import Task

IMAGE_INPUT = "image"
PIXEL_VALUES = "pixel_values"
ORIGINAL_SIZE = "original_size"

PARAMETER_TASK = "beit_task"
PARAMETER_LABELS = "beit_labels"
PARAMETER_TOP_K = "beit_top_k"
PARAMETER_VERSION = "beit_deploy_version"
PARAMETER_PRECISION = "precision"
PARAMETER_INTRA_OP_THREADS = "intra_op_threads"
# JSON {"outputs": [...], "attention_layers": [...], "num_layers": int, "patch_size": int, "preprocessing": {...}}:
# the optional outputs (hidden_states, attentions) the ensemble also serves when asked for them by name
PARAMETER_LAYER_OUTPUTS = "beit_layer_outputs"
PARAMETER_FUSED_ATTENTION = "fused_attention"  # "true": the engine runs the fp16-fused graph
PARAMETER_PLAN = "plan"  # precision "auto": the plan file's name inside the engine model's version folder
PLAN_FILE = "plan.json"
# the largest image (width x height, in pixels) the preprocess model accepts: ``beit-export triton
# --max-image-pixels`` (the Kubernetes memory limits are measured at it); a repository without it: Pillow's limit
PARAMETER_MAX_IMAGE_PIXELS = "beit_max_image_pixels"
DEFAULT_MAX_IMAGE_PIXELS = 25_000_000  # 12 and 24 MP phone photos (5712x4284), 24 MP cameras (6000x4000)
# A segmentation repository's default is also capped so that one image's float32 logits at its own size (what the
# postprocess model resizes before its argmax) stay within this: 150 classes (ADE20K) -> 3,579,139 pixels
SEGMENTATION_LOGITS_BYTES = 2 * 2**30
PILLOW_MAX_IMAGE_PIXELS = 89_478_485  # PIL.Image.MAX_IMAGE_PIXELS' default: repositories written without the above
MAX_IMAGE_BYTES = 64 * 2**20  # an encoded image, per image (beit-serve's --max-request-mb default)

ARTIFACT_FOLDER = "artifact"  # inside a python model's version folder: manifest.json and the graphs it needs
REPOSITORY_RECORD = "repository.json"
REPOSITORY_FORMAT = "beit-deploy-triton-repository"  # the record's "format" (beit_export.triton.repository writes it)
TOP_K_DIM = "k"  # a served output with this dim holds the top-k classes (``PARAMETER_TOP_K``)
IMAGE_SIZE_DIMS = ("H", "W")  # a served output with these dims is at each image's own size (needs ``ORIGINAL_SIZE``)

_TAG = re.compile(r"\[beit_runtime\.(\w+)\] ")


def model_names(name: str) -> dict[str, str]:
    """Role -> Triton model name for the artifact served as ``name``."""
    return {"ensemble": name, "preprocess": f"{name}_preprocess", "engine": f"{name}_engine",
            "postprocess": f"{name}_postprocess"}


def has_top_k(entry: Task) -> bool:
    """Whether the task's served outputs are top-k lists (classification), so the ensemble carries a top-k."""
    return any(TOP_K_DIM in tensor.dims for tensor in entry.served_outputs)


def at_image_size(entry: Task) -> bool:
    """Whether the task's served outputs are at each image's own size, so post-processing needs ``ORIGINAL_SIZE``."""
    return any(dim in IMAGE_SIZE_DIMS for tensor in entry.served_outputs for dim in tensor.dims)


def postprocess_inputs(entry: Task, engine_outputs: Sequence[str]) -> list[str]:
    """The engine outputs ``NAME_postprocess`` reads: the graph's outputs (the logits) for top-k and image-size
    answers; for an embedding, the backbone's pooler output when the graph has one, else its hidden states."""
    if has_top_k(entry) or at_image_size(entry):
        return list(entry.output_names)
    return ["pooler_output"] if "pooler_output" in engine_outputs else ["last_hidden_state"]


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
