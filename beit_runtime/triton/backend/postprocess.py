"""``NAME_postprocess``: engine outputs -> the task's answer, with the task classes' own functions.

- image-classification: ``softmax`` + ``top_predictions`` (``Classifier.classify``'s code) ->
  ``labels`` (TYPE_STRING [top_k]), ``scores`` (FP32 [top_k]), ``class_ids`` (INT32 [top_k]);
- semantic-segmentation: ``labels_at_size`` with the artifact's fused "postprocess" graph when it has
  one (``Segmenter``'s default), at each image's ``original_size`` -> ``segmentation`` (INT32 [H, W]);
- backbone: ``pooled_embedding`` (``FeatureExtractor.extract``'s) -> ``embedding`` (FP32 [D]).

Images of one request must share a size for segmentation (one output tensor per request): send one
image per request and let dynamic batching group them; a request with several sizes gets INVALID_ARG.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import triton_python_backend_utils as pb_utils  # noqa: F401  (present only inside Triton's python stub)

from ...classifier import softmax, top_predictions
from ...errors import ArtifactIntegrityError, BeitDeployError, InputError
from ...features import pooled_embedding
from ...manifest import REEXPORT_HINT, Manifest, sha256_of
from ...segmenter import POSTPROCESS_VARIANT, labels_at_size, load_postprocess_engine
from ..protocol import EMBEDDING_OUTPUT, backbone_inputs, ORIGINAL_SIZE, PARAMETER_TOP_K, SEGMENTATION_OUTPUT
from .common import artifact_manifest, check_numpy, input_array, model_parameters, responses


def classify(logits: np.ndarray, *, top_k: int, labels: Mapping[int, str]) -> dict[str, np.ndarray]:
    """(B, C) logits -> labels (B, k) bytes, scores (B, k) float32, class_ids (B, k) int32."""
    rows = [top_predictions(row, top_k, labels) for row in softmax(logits)]
    return {
        "labels": np.array([[p.label.encode() for p in row] for row in rows], dtype=object),
        "scores": np.array([[p.score for p in row] for row in rows], dtype=np.float32),
        "class_ids": np.array([[p.id for p in row] for row in rows], dtype=np.int32),
    }


def segment(logits: np.ndarray, sizes: np.ndarray, *, postprocess) -> dict[str, np.ndarray]:
    """(B, C, h, w) logits + (B, 2) original sizes -> segmentation (B, H, W) int32."""
    if len({tuple(size) for size in sizes.tolist()}) != 1:
        raise InputError(f"one request holds images of different sizes {sizes.tolist()}; send one image per request")
    maps = [labels_at_size(item, tuple(int(v) for v in size), postprocess=postprocess) for item, size in zip(logits, sizes)]
    return {SEGMENTATION_OUTPUT: np.stack(maps)}


def verified_graph_manifest(manifest: Manifest, variant: str) -> Manifest:
    """Check the one graph this model carries against the manifest's hash (the other files are not copied)."""
    path = manifest.graph_path(variant)
    record = manifest.data["files"].get(manifest.graphs[variant]["file"], {})
    if sha256_of(path) != record.get("sha256"):
        raise ArtifactIntegrityError(f"{path} does not match the hash in its manifest; {REEXPORT_HINT}")
    return manifest


class TritonPythonModel:
    def initialize(self, args):
        check_numpy()
        self.manifest = artifact_manifest(args, verify_files=False)
        self.top_k = int(model_parameters(args).get(PARAMETER_TOP_K) or 5)
        self.postprocess = None
        if self.manifest.task == "semantic-segmentation" and POSTPROCESS_VARIANT in self.manifest.graphs:
            verified_graph_manifest(self.manifest, POSTPROCESS_VARIANT)
            self.postprocess = load_postprocess_engine(self.manifest, providers=["CPUExecutionProvider"])

    def execute(self, requests):
        return responses([self._one(request) for request in requests], where="postprocess")

    def _one(self, request):
        task = self.manifest.task
        try:
            if task == "image-classification":
                return classify(input_array(request, "logits"), top_k=self.top_k, labels=self.manifest.labels)
            if task == "semantic-segmentation":
                sizes = input_array(request, ORIGINAL_SIZE)
                return segment(input_array(request, "logits"), sizes, postprocess=self.postprocess)
            return {EMBEDDING_OUTPUT: pooled_embedding({name: input_array(request, name) for name in backbone_inputs(self.manifest.graphs)})}
        except BeitDeployError as error:
            return error

    def finalize(self):
        if self.postprocess is not None:
            self.postprocess.close()
