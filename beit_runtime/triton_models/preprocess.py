"""``NAME_preprocess``: encoded images (TYPE_STRING) -> ``pixel_values`` (FP32) + ``original_size`` (INT32).

The runtime's own code: ``load_image`` (Pillow decode, EXIF orientation, as transformers' load_image)
and ``Preprocessor.from_manifest`` on the artifact's manifest copied into this model's folder, so the
tensor is the one ``Classifier``/``Segmenter`` make in-process (which is the HF processor's). The
requests of a dynamic batch are decoded and preprocessed in parallel on the runtime's thread pool
(Pillow releases the GIL); only the Triton tensor calls stay on the stub's thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils  # noqa: F401  (present only inside Triton's python stub)

from ..errors import BeitDeployError
from ..images import load_image
from ..preprocess import Preprocessor, parallel_map
from ..serving_protocol import IMAGE_INPUT, ORIGINAL_SIZE, PIXEL_VALUES
from .common import Outputs, artifact_manifest, check_numpy, input_array, responses


def preprocess_rows(rows: np.ndarray, preprocessor: Preprocessor) -> dict[str, np.ndarray]:
    """One request's (B, 1) object array of encoded images -> pixel_values (B, 3, H, W), original_size (B, 2)."""
    images = [load_image(bytes(row)) for row in rows.reshape(-1)]
    return {
        PIXEL_VALUES: preprocessor.batch(images, parallel=False),
        ORIGINAL_SIZE: np.array([image.shape[:2] for image in images], dtype=np.int32),
    }


class TritonPythonModel:
    def initialize(self, args: Mapping[str, str]) -> None:
        check_numpy()
        self.preprocessor = Preprocessor.from_manifest(artifact_manifest(args, verify_files=False))

    def execute(self, requests: Sequence[Any]) -> list[Any]:
        batches: list[np.ndarray | BaseException] = []
        for request in requests:
            try:
                batches.append(input_array(request, IMAGE_INPUT))
            except BeitDeployError as error:
                batches.append(error)
        return responses(parallel_map(self._one, batches), where=f"input '{IMAGE_INPUT}'")

    def _one(self, rows: np.ndarray | BaseException) -> Outputs | BaseException:
        if isinstance(rows, BaseException):
            return rows
        try:
            return preprocess_rows(rows, self.preprocessor)
        except BeitDeployError as error:
            return error
