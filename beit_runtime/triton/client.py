"""``RemoteClassifier`` / ``RemoteSegmenter`` / ``RemoteFeatureExtractor``: the task classes' calls, served.

    classifier = Classifier("artifacts/beit-base")                  # in-process
    classifier = RemoteClassifier("127.0.0.1:8000", "beit-base")      # the same calls against beit-serve
    classifier(images, top_k=3)                                      # -> list[Prediction] (per image)

Images are sent as encoded bytes, one image per request (Triton's dynamic batcher groups requests
from every client; a request holds one tensor, and label maps differ in size per image), up to
``max_in_flight`` at once. Encoded bytes and files are sent as they are, so the server decodes them
exactly as ``load_image`` does in-process; arrays and PIL images are first turned into the RGB array
``load_image`` makes here, then sent as lossless PNG. The server runs the runtime's own preprocessing
and post-processing, so results equal the local classes' (tests: labels exactly, scores to 1e-6).

URLs: ``host:port`` or ``http://host:port`` (HTTP), ``grpc://host:port`` (gRPC). Server errors become
beit_runtime's typed errors (``transport.runtime_error``); ``request`` sends arbitrary named tensors.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from ..classifier import Prediction
from ..errors import ArtifactError, ImageDecodeError, ImageFormatError, InputError
from ..images import check_channel_order, load_image
from ..model_base import task_class_name
from ..segmenter import SegmentationResult
from . import protocol
from .transport import Transport


def encode_image(source: Any, *, channel_order: str = "rgb") -> bytes:
    """What to send for one image: encoded bytes and files as they are, anything else as lossless PNG."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise ImageDecodeError(f"image file {path} does not exist or is not a file; check the path")
        return path.read_bytes()
    buffer = io.BytesIO()
    Image.fromarray(load_image(source, channel_order=channel_order)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


class RemoteModel:
    """A served repository's ensemble; subclasses set ``task`` and turn outputs into results."""

    task: ClassVar[str] = ""
    outputs: ClassVar[tuple[str, ...]] = ()

    def __init__(self, url: str, name: str, *, timeout_s: float = 60.0, max_in_flight: int = 8) -> None:
        self.name = name
        self.transport = Transport(url, timeout_s=timeout_s, max_in_flight=max_in_flight)
        try:
            self.parameters = self._check_served()
        except BaseException:
            self.transport.close()
            raise
        self.labels = {int(k): v for k, v in json.loads(self.parameters.get(protocol.PARAMETER_LABELS) or "{}").items()}

    def _check_served(self) -> dict[str, str]:
        config = self.transport.model_config(self.name)
        parameters = {key: value.get("string_value", "") for key, value in (config.get("parameters") or {}).items()}
        served = parameters.get(protocol.PARAMETER_TASK)
        if served != self.task:
            hint = f"use Remote{task_class_name(served)}" if served else "serve a repository written by `beit-export triton`"
            raise ArtifactError(f"model '{self.name}' at {self.transport.url} serves task {served!r}, "
                                f"{type(self).__name__} needs '{self.task}' ({hint})")
        return parameters

    def close(self) -> None:
        self.transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.transport.url!r}, {self.name!r})"

    def request(self, inputs: Mapping[str, np.ndarray], *, outputs: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """One inference with the given named tensors (object arrays are BYTES); its outputs."""
        return self.transport.infer_many(self.name, [inputs], list(outputs or self.outputs))[0]

    def infer_images(self, images: Any, *, channel_order: str = "rgb") -> tuple[list[dict[str, np.ndarray]], bool]:
        """(per image: the ensemble's outputs for that one image, whether one image was given)."""
        check_channel_order(channel_order)
        single = not isinstance(images, (list, tuple)) and not (isinstance(images, np.ndarray) and images.ndim == 4)
        items = [images] if single else list(images)
        if not items:
            raise ImageFormatError("no images given; pass one image or a non-empty list of images")
        requests = [{protocol.IMAGE_INPUT: np.array([[encode_image(item, channel_order=channel_order)]], dtype=object)}
                    for item in items]
        return self.transport.infer_many(self.name, requests, list(self.outputs)), single


class RemoteClassifier(RemoteModel):
    """``Classifier``'s ``classify(images, top_k=5)`` against a served classification repository."""

    task = "image-classification"
    outputs = protocol.CLASSIFICATION_OUTPUTS

    @property
    def served_top_k(self) -> int:
        return int(self.parameters.get(protocol.PARAMETER_TOP_K) or 0)

    def classify(self, images: Any, *, top_k: int = 5, channel_order: str = "rgb") -> list:
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise InputError(f"top_k must be a positive integer, got {top_k!r}")
        if top_k > self.served_top_k and self.served_top_k < len(self.labels):
            raise InputError(f"model '{self.name}' serves the top {self.served_top_k} classes; ask for at most that, or "
                             f"re-write the repository with `beit-export triton ... --top-k {top_k}`")
        outputs, single = self.infer_images(images, channel_order=channel_order)
        results = [self._predictions(output, top_k) for output in outputs]
        return results[0] if single else results

    __call__ = classify

    @staticmethod
    def _predictions(output: Mapping[str, np.ndarray], top_k: int) -> list[Prediction]:
        labels, scores, ids = output["labels"][0], output["scores"][0], output["class_ids"][0]
        return [Prediction(label=label.decode() if isinstance(label, bytes) else str(label), id=int(i), score=float(score))
                for label, score, i in list(zip(labels, scores, ids))[:top_k]]


class RemoteSegmenter(RemoteModel):
    """``Segmenter``'s ``segment(images)`` (whole mode) against a served segmentation repository."""

    task = "semantic-segmentation"
    outputs = (protocol.SEGMENTATION_OUTPUT,)

    def segment(self, images: Any, *, channel_order: str = "rgb", return_scores: bool = False):
        if return_scores:
            raise InputError("the served segmenter returns label maps only; use Segmenter(artifact) in-process for scores")
        outputs, single = self.infer_images(images, channel_order=channel_order)
        results = [SegmentationResult(output[protocol.SEGMENTATION_OUTPUT][0], None, self.labels) for output in outputs]
        return results[0] if single else results

    __call__ = segment


class RemoteFeatureExtractor(RemoteModel):
    """``FeatureExtractor``'s ``extract(images)`` (pooled embeddings) against a served backbone repository."""

    task = "backbone"
    outputs = (protocol.EMBEDDING_OUTPUT,)

    def extract(self, images: Any, *, patch_tokens: bool = False, channel_order: str = "rgb"):
        if patch_tokens:
            raise InputError("the served backbone returns pooled embeddings only; use FeatureExtractor(artifact) for patch tokens")
        outputs, single = self.infer_images(images, channel_order=channel_order)
        embeddings = np.concatenate([output[protocol.EMBEDDING_OUTPUT] for output in outputs])
        return embeddings[0] if single else embeddings

    __call__ = extract
