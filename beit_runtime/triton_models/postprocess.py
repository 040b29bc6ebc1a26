"""``NAME_postprocess``: engine outputs -> the task's served outputs (``Task.served_outputs``), with the
task classes' own functions.

- top-k outputs (classification): ``scores`` (the manifest's score function: softmax, sigmoid for multi-label
  or one logit, none for regression) + ``top_predictions`` (``Classifier.classify``'s code)
  -> ``labels`` (TYPE_STRING [top_k]), ``scores`` (FP32 [top_k]), ``class_ids`` (INT32 [top_k]);
- outputs at the image's size (segmentation): ``labels_at_size`` with the artifact's fused
  "postprocess" graph when it has one (``Segmenter``'s default), at each image's ``original_size``
  -> ``segmentation`` (INT32 [H, W]);
- otherwise (backbone): ``pooled_embedding`` (``FeatureExtractor.extract``'s) -> ``embedding`` (FP32 [D]).

Images of one request must share a size for segmentation (one output tensor per request): send one
image per request and let dynamic batching group them; a request with several sizes gets INVALID_ARG.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils  # noqa: F401  (present only inside Triton's python stub)

from ..classifier import scores, top_predictions
from ..engines.base import Engine
from ..engines.onnxruntime_engine import OnnxRuntimeEngine
from ..errors import ArtifactIntegrityError, InputError, ManifestError
from ..features import pooled_embedding
from ..manifest import REEXPORT_HINT, Manifest, sha256_of
from ..segmenter import POSTPROCESS_VARIANT, labels_at_size
from ..serving_protocol import (
    ORIGINAL_SIZE,
    PARAMETER_TOP_K,
    PILLOW_MAX_IMAGE_PIXELS,
    at_image_size,
    has_top_k,
    postprocess_inputs,
)
from ..tasks import task
from .common import Outputs, artifact_manifest, check_finite, check_numpy, input_array, model_parameters, responses
from .preprocess import max_image_pixels


def classify(logits: np.ndarray, *, top_k: int, labels: Mapping[int, str], names: Sequence[str],
             score_function: str = "softmax") -> Outputs:
    """(B, C) logits -> (labels (B, k) bytes, scores (B, k) float32, class_ids (B, k) int32) under ``names``."""
    rows = [top_predictions(row, top_k, labels) for row in scores(logits, score_function)]
    values = (np.array([[p.label.encode() for p in row] for row in rows], dtype=object),
              np.array([[p.score for p in row] for row in rows], dtype=np.float32),
              np.array([[p.id for p in row] for row in rows], dtype=np.int32))
    return dict(zip(names, values, strict=True))


def segment(logits: np.ndarray, sizes: np.ndarray, *, postprocess: Engine | None,
            max_pixels: int = PILLOW_MAX_IMAGE_PIXELS) -> np.ndarray:
    """(B, C, h, w) logits + (B, 2) original sizes -> (B, H, W) int32 label maps."""
    check_sizes(sizes, images=len(logits), max_pixels=max_pixels)
    if len({tuple(size) for size in sizes.tolist()}) != 1:
        raise InputError(f"one request holds images of different sizes {sizes.tolist()}; send one image per request")
    return np.stack([labels_at_size(item, tuple(int(v) for v in size), postprocess=postprocess)
                     for item, size in zip(logits, sizes, strict=True)])


def check_sizes(sizes: np.ndarray, *, images: int, max_pixels: int = PILLOW_MAX_IMAGE_PIXELS) -> None:
    """InputError unless ``sizes`` holds one (height, width) per image, each side >= 1 and at most
    ``max_pixels`` pixels in all (what the preprocess model lets through)."""
    if sizes.shape != (images, 2):
        raise InputError(f"'{ORIGINAL_SIZE}' has shape {list(sizes.shape)}; expected [{images}, 2], one (height, "
                         "width) per image")
    for height, width in sizes.tolist():
        if height < 1 or width < 1 or height * width > max_pixels:
            raise InputError(f"'{ORIGINAL_SIZE}' {[height, width]} is not an image size: expected a height and "
                             f"width >= 1 and at most {max_pixels:,} pixels in all (this repository's "
                             "--max-image-pixels)")


def verified_graph_manifest(manifest: Manifest, variant: str) -> Manifest:
    """Check the one graph this model carries against the manifest's hash (the other files are not copied)."""
    path = manifest.graph_path(variant)
    record = manifest.files.get(manifest.graphs[variant].file)
    if record is None or sha256_of(path) != record.sha256:
        raise ArtifactIntegrityError(f"{path} does not match the hash in its manifest; {REEXPORT_HINT}")
    return manifest


def postprocess_engine(manifest: Manifest) -> Engine:
    """The fused "postprocess" graph on ONNX Runtime's CPU provider with its CPU memory arena off: with it on,
    the stub kept 2.6 GB after one 9000x9000 image (the arena never gives memory back); off, the memory goes
    back after each request, for no measurable cost on a 640x480 image (0.99-1.15x, AMD EPYC, 2 cores)."""
    verified_graph_manifest(manifest, POSTPROCESS_VARIANT)
    engine = OnnxRuntimeEngine(manifest.graph_path(POSTPROCESS_VARIANT), providers=["CPUExecutionProvider"],
                               cpu_memory_arena=False)
    names = sorted(spec.name for spec in engine.inputs)
    if names != ["logits", "target_size"]:
        engine.close()
        raise ManifestError(f"the 'postprocess' graph of {manifest.folder} takes {names}, expected logits and "
                            f"target_size; {REEXPORT_HINT}")
    return engine


class TritonPythonModel:
    def initialize(self, args: Mapping[str, str]) -> None:
        check_numpy()
        self.manifest = artifact_manifest(args, verify_files=False)
        self.entry = task(self.manifest.task)
        self.inputs = postprocess_inputs(self.entry, self.manifest.graphs["fp32"].output_names)
        self.top_k = int(model_parameters(args).get(PARAMETER_TOP_K) or 5)
        self.max_pixels = max_image_pixels(args)
        self.postprocess: Engine | None = None
        if at_image_size(self.entry) and POSTPROCESS_VARIANT in self.manifest.graphs:
            self.postprocess = postprocess_engine(self.manifest)

    def execute(self, requests: Sequence[Any]) -> list[Any]:
        return responses([self._one(request) for request in requests], where="postprocess")

    def _one(self, request: Any) -> Outputs | BaseException:
        try:
            return self._answer(request)
        except Exception as error:
            return error

    def _answer(self, request: Any) -> Outputs:
        names = self.entry.served_output_names
        inputs = {name: check_finite(name, input_array(request, name)) for name in self.inputs}
        if has_top_k(self.entry):
            (logits,) = inputs.values()
            return classify(logits, top_k=self.top_k, labels=self.manifest.labels, names=names,
                            score_function=self.manifest.postprocessing.score_function)
        if at_image_size(self.entry):
            (logits,) = inputs.values()
            sizes = input_array(request, ORIGINAL_SIZE)
            return {names[0]: segment(logits, sizes, postprocess=self.postprocess, max_pixels=self.max_pixels)}
        return {names[0]: pooled_embedding(inputs)}

    def finalize(self) -> None:
        if self.postprocess is not None:
            self.postprocess.close()
