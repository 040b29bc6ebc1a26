"""``NAME_preprocess``: encoded images (TYPE_STRING) -> ``pixel_values`` (FP32) + ``original_size`` (INT32).

The runtime's own code: ``load_image`` (Pillow decode, EXIF orientation, as transformers' load_image)
and ``Preprocessor.from_manifest`` on the artifact's manifest copied into this model's folder, so the
tensor is the one ``Classifier``/``Segmenter`` make in-process (which is the HF processor's). The
requests of a dynamic batch are decoded and preprocessed in parallel on the runtime's thread pool
(Pillow releases the GIL); only the Triton tensor calls stay on the stub's thread.

Limits (the server's own answer to oversized or hostile images, per image, each an INVALID_ARG error response for
that request alone, tagged with its class): an encoded image over ``MAX_IMAGE_BYTES`` (64 MiB, beit-serve's
``--max-request-mb`` default) is refused before it is decoded (``InputError``); an image declaring more pixels than
the repository's ``beit-export triton --max-image-pixels`` (config parameter ``PARAMETER_MAX_IMAGE_PIXELS``,
default 25,000,000; Pillow's 89,478,485 for a repository written without it) is refused from its header, before its
pixels are decoded (``InputError`` naming the limit and the option, or a re-export where the limit is already the
most the artifact's attention allows): a few KB of PNG can declare gigabytes of pixels, and the Kubernetes memory
limits are measured at that size. Where the recipe's resize follows the aspect ratio (``shortest_edge`` on a
``--dynamic-resolution`` artifact), an image whose tensor would make attention larger than
``attention_memory.SERVED_ATTENTION_BYTES`` (an elongated panorama) is refused after decoding, before it is
preprocessed (``ImageTooLargeError``, naming the aspect ratio that fits). The requests of a batch are decoded on
this model's own pool of ``max_batch_size`` threads, so as many images are decoded at once on any machine (the
measured peak holds).
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils  # noqa: F401  (present only inside Triton's python stub)
from PIL import Image

from ..attention_memory import attention_max_image_pixels, check_served_attention
from ..errors import BeitDeployError, InputError
from ..images import PILLOW_DECODE_ERRORS, load_image
from ..manifest import InputRecord
from ..preprocess import Preprocessor
from ..serving_protocol import (
    IMAGE_INPUT,
    MAX_IMAGE_BYTES,
    ORIGINAL_SIZE,
    PARAMETER_MAX_IMAGE_PIXELS,
    PILLOW_MAX_IMAGE_PIXELS,
    PIXEL_VALUES,
)
from .common import Outputs, artifact_manifest, check_numpy, input_array, model_parameters, responses


def declared_size(data: bytes) -> tuple[int, int] | None:
    """The (width, height) an encoded image's header declares, without decoding it (None: not an image)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except PILLOW_DECODE_ERRORS:
        return None  # load_image names what is wrong with it
    return int(width), int(height)


def max_image_pixels(args: Mapping[str, str]) -> int:
    """The repository's largest image, in pixels (``PARAMETER_MAX_IMAGE_PIXELS``; Pillow's limit without it)."""
    return int(model_parameters(args).get(PARAMETER_MAX_IMAGE_PIXELS) or PILLOW_MAX_IMAGE_PIXELS)


def decode(data: bytes, *, max_pixels: int = PILLOW_MAX_IMAGE_PIXELS, attention_bound: bool = False) -> np.ndarray:
    """One encoded image -> HxWx3 uint8, within the limits of the module docstring. ``attention_bound``: the limit
    is already the most the artifact's attention allows, so the refusal does not suggest raising it."""
    if len(data) > MAX_IMAGE_BYTES:
        raise InputError(f"an encoded image of {len(data) / 2**20:.1f} MiB is over this server's limit of "
                         f"{MAX_IMAGE_BYTES // 2**20} MiB per image; downscale or re-encode it (JPEG) before sending")
    size = declared_size(data)
    if size is not None and size[0] * size[1] > max_pixels:
        raise InputError(
            f"the image declares {size[0]}x{size[1]} = {size[0] * size[1]:,} pixels, over this server's limit of "
            f"{max_pixels:,} pixels per image: downscale it before sending, or " + (
                "serve an artifact re-exported with a recipe that resizes (this limit is the most its attention "
                "allows: its recipe keeps each image's size)" if attention_bound else
                "write the repository again with a larger `beit-export triton --max-image-pixels N` (its Kubernetes "
                "memory limits are measured at that size)"))
    return load_image(data)


def preprocess_rows(rows: np.ndarray, preprocessor: Preprocessor, *, max_pixels: int = PILLOW_MAX_IMAGE_PIXELS,
                    record: InputRecord | None = None) -> dict[str, np.ndarray]:
    """One request's (B, 1) object array of encoded images -> pixel_values (B, 3, H, W), original_size (B, 2);
    with the artifact's input ``record``, an image whose tensor's attention is too large is refused first."""
    largest = None if record is None else attention_max_image_pixels(record, preprocessor)
    bound = largest is not None and max_pixels >= largest
    images = [decode(bytes(row), max_pixels=max_pixels, attention_bound=bound) for row in rows.reshape(-1)]
    for image in images:
        if record is not None:
            check_served_attention(image.shape[:2], preprocessor=preprocessor, record=record)
    return {
        PIXEL_VALUES: preprocessor.batch(images, parallel=False),
        ORIGINAL_SIZE: np.array([image.shape[:2] for image in images], dtype=np.int32),
    }


class TritonPythonModel:
    def initialize(self, args: Mapping[str, str]) -> None:
        check_numpy()
        Image.MAX_IMAGE_PIXELS = None  # decode() refuses from the header, at the repository's limit
        manifest = artifact_manifest(args, verify_files=False)
        self.preprocessor, self.input_record = Preprocessor.from_manifest(manifest), manifest.input
        self.max_pixels = max_image_pixels(args)
        batch = int(json.loads(args["model_config"]).get("max_batch_size") or 1)
        self.pool = ThreadPoolExecutor(max_workers=max(1, batch), thread_name_prefix="beit-preprocess")

    def execute(self, requests: Sequence[Any]) -> list[Any]:
        batches: list[np.ndarray | BaseException] = []
        for request in requests:
            try:
                batches.append(input_array(request, IMAGE_INPUT))
            except BeitDeployError as error:
                batches.append(error)
        return responses(list(self.pool.map(self._one, batches)), where=f"input '{IMAGE_INPUT}'")

    def _one(self, rows: np.ndarray | BaseException) -> Outputs | BaseException:
        if isinstance(rows, BaseException):
            return rows
        try:
            return preprocess_rows(rows, self.preprocessor, max_pixels=self.max_pixels, record=self.input_record)
        except Exception as error:
            return error

    def finalize(self) -> None:
        self.pool.shutdown(wait=True)
