"""The size of the pods' /dev/shm (a memory-backed emptyDir), from what the repository accepts: ``shm_size``.

Why: Triton's python backend gives every python model instance its own /dev/shm region, which holds the
tensors of the batch that instance executes (the inputs Triton copies in, the outputs the model writes)
and grows to the largest batch it has held, never shrinking. The largest batch a repository accepts is
``max_batch_size`` requests of one image each, an encoded image of up to ``MAX_IMAGE_BYTES`` going into the
preprocess model, and for a task answered at each image's own size (segmentation) its answer at
``max_image_pixels`` coming out of the postprocess model (INT32 class ids: 4 bytes a pixel); with
``instances`` instances of each model, that many such batches at once. Measured with Triton 2.51: 8
concurrent 63 MiB PNGs grew the preprocess stub's region to 321 MiB (they came in batches of up to 5).

Rule (``SHM_RULE``), written into the Deployment's ``beit-deploy.io/shm-size`` annotation with its
numbers and into DIR/README.md: /dev/shm = the largest of ``--shm-size-mib`` (default 256), ``instances``
x ``max_batch_size`` x the bytes per image above x ``MEMORY_HEADROOM`` + ``SHM_BASE_MIB`` (each stub's
first region and the small tensors: pixel values, logits, top-k lists), and, when the memory was
measured, the measured regions x ``MEMORY_HEADROOM``; rounded up to ``MEMORY_ROUND_MIB``. The optional
layer outputs of an engine on the python backend (``--outputs``, asked for by name) are not in it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from beit_runtime.serving_protocol import IMAGE_SIZE_DIMS, MAX_IMAGE_BYTES, PILLOW_MAX_IMAGE_PIXELS
from beit_runtime.tasks import TASKS

from .memory import MemoryMeasurement
from .options import MEMORY_HEADROOM, MEMORY_ROUND_MIB, KubernetesOptions, shm_size_mib

SHM_BASE_MIB = 64
SHM_RULE = (f"largest of --shm-size-mib, instances x max batch x (encoded image + outputs at the image's size) x "
            f"{MEMORY_HEADROOM} + {SHM_BASE_MIB} MiB, and the measured /dev/shm x {MEMORY_HEADROOM}")
_DATATYPE_BYTES = {"BOOL": 1, "INT8": 1, "UINT8": 1, "FP16": 2, "INT32": 4, "FP32": 4, "INT64": 8, "FP64": 8}


@dataclass(frozen=True)
class ShmSize:
    """The /dev/shm of the pods, MiB, and how it follows from ``SHM_RULE`` (the annotation's text)."""

    mib: int
    how: str


def image_output_bytes(task_name: str, max_image_pixels: int) -> int:
    """Bytes of the task's answers at an image's own size for the largest image (0 for other tasks)."""
    entry = TASKS.get(task_name)
    served = entry.served_outputs if entry is not None else ()
    per_pixel = sum(_DATATYPE_BYTES.get(tensor.datatype, 8) for tensor in served
                    if all(dim in tensor.dims for dim in IMAGE_SIZE_DIMS))
    return per_pixel * max_image_pixels


def shm_size(options: KubernetesOptions, *, record: dict[str, Any], memory: MemoryMeasurement | None) -> ShmSize:
    """The pods' /dev/shm for the repository of ``record`` (its ``repository.json``) by ``SHM_RULE``."""
    settings = record.get("options", {})
    batch, instances = int(settings.get("max_batch_size") or 1), int(settings.get("instances") or 1)
    pixels = int(settings.get("max_image_pixels") or PILLOW_MAX_IMAGE_PIXELS)
    outputs = image_output_bytes(str(record.get("task", "")), pixels)
    per_image_mib = (MAX_IMAGE_BYTES + outputs) / 2**20
    derived = _round_up(instances * batch * per_image_mib * MEMORY_HEADROOM + SHM_BASE_MIB)
    measured = shm_size_mib(memory.shm_mib) if memory is not None else 0
    mib = max(options.shm_size_mib, derived, measured)
    how = (f"{mib}Mi, the largest of: --shm-size-mib {options.shm_size_mib} MiB; {instances} (instances) x "
           f"{batch} (max batch) x {per_image_mib:.0f} MiB per image ({MAX_IMAGE_BYTES // 2**20} MiB encoded image + "
           f"{outputs / 2**20:.0f} MiB of outputs at the image's size of {pixels:,} pixels) x {MEMORY_HEADROOM} + "
           f"{SHM_BASE_MIB} MiB = {derived} MiB")
    how += f"; the measured {memory.shm_mib:.0f} MiB x {MEMORY_HEADROOM} = {measured} MiB" if memory else \
        " (not measured: --memory-request-mib)"
    return ShmSize(mib=mib, how=how)


def _round_up(mib: float) -> int:
    return int(math.ceil(mib / MEMORY_ROUND_MIB) * MEMORY_ROUND_MIB)
