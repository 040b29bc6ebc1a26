"""``RemoteClassifier`` / ``RemoteSegmenter`` / ``RemoteFeatureExtractor``: the task classes' calls, served.

    classifier = Classifier("artifacts/beit-base")                  # in-process
    classifier = RemoteClassifier("127.0.0.1:8000", "beit-base")      # the same calls against beit-serve
    classifier(images, top_k=3)                                      # -> list[Prediction] (per image)

Each class is the ``remote_class`` of one task in the registry (``beit_runtime.tasks``), which also
names the outputs it asks for (``Task.served_outputs``). The server runs the runtime's own
preprocessing and post-processing, so results equal the local classes' (tests: labels exactly,
scores to 1e-6). ``RemoteClassifier`` and ``RemoteFeatureExtractor`` also have ``hidden_states``,
``attentions`` and ``attention_maps`` (``RemoteLayerOutputs``) when the served artifact was exported with
``--outputs``; the ensemble sends those tensors only to calls that ask for them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, overload

import numpy as np

from ..attention import cls_attention_maps
from ..classifier import Prediction
from ..errors import InputError, OutputUnavailableError
from ..image_batches import image_list
from ..image_types import ImageList, Images, ImageSource, ImageT
from ..images import load_image
from ..layer_outputs import EXPORT_FLAGS, encoder_layer
from ..options import positive_int
from ..preprocess import Preprocessor
from ..segmenter import SegmentationResult
from ..serving_protocol import PARAMETER_LAYER_OUTPUTS, PARAMETER_TOP_K
from .model import RemoteModel


class RemoteLayerOutputs(RemoteModel):
    """The optional outputs (``LayerOutputs``'s methods) of a served artifact exported with ``--outputs``."""

    @property
    def layer_outputs(self) -> dict[str, Any]:
        """What the ensemble serves besides the task's outputs (``PARAMETER_LAYER_OUTPUTS``; {} for nothing)."""
        return dict(json.loads(self.parameters.get(PARAMETER_LAYER_OUTPUTS) or "{}"))

    @property
    def attention_layers(self) -> tuple[int, ...]:
        """The 0-based encoder layers whose attentions the model serves (as ``LayerOutputs.attention_layers``)."""
        return tuple(int(layer) for layer in self.layer_outputs.get("attention_layers", ()))

    @property
    def num_layers(self) -> int:
        """The model's encoder layers (0 when it serves no optional output)."""
        return int(self.layer_outputs.get("num_layers", 0))

    def hidden_states(self, images: Images, *, channel_order: str = "rgb") -> np.ndarray:
        """float32 (n, layers + 1, tokens, hidden), or (layers + 1, tokens, hidden) for one image."""
        return self._optional("hidden_states", images, channel_order=channel_order)

    def attentions(self, images: Images, *, channel_order: str = "rgb") -> np.ndarray:
        """float32 (n, exported layers, heads, tokens, tokens), or without n for one image."""
        return self._optional("attentions", images, channel_order=channel_order)

    @overload
    def attention_maps(self, images: ImageSource, *, layer: int = -1, channel_order: str = "rgb") -> np.ndarray: ...
    @overload
    def attention_maps(self, images: ImageList, *, layer: int = -1, channel_order: str = "rgb") -> list[np.ndarray]: ...
    @overload
    def attention_maps(self, images: list[ImageT], *, layer: int = -1,
                       channel_order: str = "rgb") -> list[np.ndarray]: ...
    @overload
    def attention_maps(self, images: np.ndarray, *, layer: int = -1,
                       channel_order: str = "rgb") -> np.ndarray | list[np.ndarray]: ...

    def attention_maps(self, images: Images, *, layer: int = -1,
                       channel_order: str = "rgb") -> np.ndarray | list[np.ndarray]:
        """The CLS token's attention per head of encoder ``layer`` (negative: from the last), (heads, H, W) at each
        image's own size. A layer the model does not have is an InputError naming the valid range (as in-process),
        one it has but the served artifact does not hold an OutputUnavailableError; both before any request."""
        served = self.layer_outputs
        self._require("attentions")
        layers, total = list(self.attention_layers), self.num_layers
        index = encoder_layer(layer, exported=layers, total=total)
        if index not in layers:
            raise OutputUnavailableError(f"model '{self.name}' serves the attentions of layers {layers} (of {total}), "
                                         f"not of layer {index}; re-export with `--attention-layers {index}` (or "
                                         "all) and re-write the repository to serve it")
        position = layers.index(index)
        preprocessor = Preprocessor.from_manifest(served["preprocessing"])
        items, single = image_list(images)  # an iterator is read once, here
        outputs, _ = self.infer_images(items, channel_order=channel_order, outputs=["attentions"])
        maps = [cls_attention_maps(output["attentions"][0, position], preprocessor=preprocessor,
                                   image_size=load_image(item, channel_order=channel_order).shape[:2],
                                   patch_size=int(served["patch_size"]))
                for item, output in zip(items, outputs, strict=True)]
        return maps[0] if single else maps

    def _require(self, name: str) -> None:
        if name not in self.layer_outputs.get("outputs", ()):
            raise OutputUnavailableError(f"model '{self.name}' does not serve '{name}': its artifact was exported "
                                         f"without it; re-export with `beit-export ... {EXPORT_FLAGS[name]}` and "
                                         "re-write the repository")

    def _optional(self, name: str, images: Images, *, channel_order: str) -> np.ndarray:
        self._require(name)
        outputs, single = self.infer_images(images, channel_order=channel_order, outputs=[name])
        values = np.concatenate([output[name] for output in outputs]).astype(np.float32, copy=False)
        return values[0] if single else values


class RemoteClassifier(RemoteLayerOutputs):
    """``Classifier``'s ``classify(images, top_k=5)`` against a served classification repository."""

    @property
    def served_top_k(self) -> int:
        return int(self.parameters.get(PARAMETER_TOP_K) or 0)

    def check_top_k(self, top_k: int, *, option: str = "top_k") -> int:
        """``top_k`` when the server returns that many classes per image; InputError naming ``option`` if not."""
        top_k = positive_int(option, top_k)
        if top_k > self.served_top_k and self.served_top_k < len(self.labels):
            raise InputError(f"{option} {top_k}: model '{self.name}' serves the top {self.served_top_k} classes; ask "
                             f"for at most that, or re-write the repository with `beit-export triton ... --top-k "
                             f"{top_k}`")
        return top_k

    @overload
    def classify(self, images: ImageSource, *, top_k: int = 5, channel_order: str = "rgb") -> list[Prediction]: ...
    @overload
    def classify(self, images: ImageList, *, top_k: int = 5, channel_order: str = "rgb") -> list[list[Prediction]]: ...
    @overload
    def classify(self, images: list[ImageT], *, top_k: int = 5,
                 channel_order: str = "rgb") -> list[list[Prediction]]: ...
    @overload
    def classify(self, images: np.ndarray, *, top_k: int = 5,
                 channel_order: str = "rgb") -> list[Prediction] | list[list[Prediction]]: ...

    def classify(self, images: Images, *, top_k: int = 5,
                 channel_order: str = "rgb") -> list[Prediction] | list[list[Prediction]]:
        """Per image (or for the one image given): its ``top_k`` predictions, best first."""
        top_k = self.check_top_k(top_k)
        outputs, single = self.infer_images(images, channel_order=channel_order)
        results = [self._predictions(output, top_k) for output in outputs]
        return results[0] if single else results

    __call__ = classify

    def _predictions(self, output: Mapping[str, np.ndarray], top_k: int) -> list[Prediction]:
        labels, scores, ids = (output[name][0] for name in self.outputs)  # the registry's order: labels, scores, ids
        return [Prediction(label=label.decode() if isinstance(label, bytes) else str(label), id=int(i),
                           score=float(score))
                for label, score, i in list(zip(labels, scores, ids, strict=True))[:top_k]]


class RemoteSegmenter(RemoteModel):
    """``Segmenter``'s ``segment(images)`` (whole mode) against a served segmentation repository."""

    @overload
    def segment(self, images: ImageSource, *, channel_order: str = "rgb",
                return_scores: bool = False) -> SegmentationResult: ...
    @overload
    def segment(self, images: ImageList, *, channel_order: str = "rgb",
                return_scores: bool = False) -> list[SegmentationResult]: ...
    @overload
    def segment(self, images: list[ImageT], *, channel_order: str = "rgb",
                return_scores: bool = False) -> list[SegmentationResult]: ...
    @overload
    def segment(self, images: np.ndarray, *, channel_order: str = "rgb",
                return_scores: bool = False) -> SegmentationResult | list[SegmentationResult]: ...

    def segment(self, images: Images, *, channel_order: str = "rgb",
                return_scores: bool = False) -> SegmentationResult | list[SegmentationResult]:
        """Per image (or for the one image given): its label map at the image's own size."""
        if return_scores:
            raise InputError("the served segmenter returns label maps only; "
                             "use Segmenter(artifact) in-process for scores")
        outputs, single = self.infer_images(images, channel_order=channel_order)
        results = [SegmentationResult(output[self.outputs[0]][0], None, self.labels) for output in outputs]
        return results[0] if single else results

    __call__ = segment


class RemoteFeatureExtractor(RemoteLayerOutputs):
    """``FeatureExtractor``'s ``extract(images)`` (pooled embeddings) against a served backbone repository."""

    def extract(self, images: Images, *, patch_tokens: bool = False, channel_order: str = "rgb") -> np.ndarray:
        """(D,) for one image, (N, D) for a list: the pooled embeddings."""
        if patch_tokens:
            raise InputError("the served backbone returns pooled embeddings only; "
                             "use FeatureExtractor(artifact) for patch tokens")
        outputs, single = self.infer_images(images, channel_order=channel_order)
        embeddings = np.concatenate([output[self.outputs[0]] for output in outputs])
        return embeddings[0] if single else embeddings

    __call__ = extract
