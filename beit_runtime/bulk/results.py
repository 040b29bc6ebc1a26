"""What one image of a folder run produces, and how each task's engine outputs become it.

An ``ImageResult`` is everything the writers need: the line for OUT/results.jsonl, the files to
write (label maps, overlays; already encoded), the embedding for the .npy shards, or the error for
OUT/errors.jsonl (an image that does not decode, or whose label map PNG cannot hold: that image alone fails).
``finisher_for`` picks the finisher by the task registry's ``folder_output``; each
computes exactly what the task class's own call returns (same scores and top-k, same label-map
post-processing, same pooled embedding), so a folder run's results equal the in-process classes'.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import cv2
import numpy as np

from ..classifier import scores, top_predictions
from ..errors import ImageError, ImageFormatError, InputError
from ..features import pooled_embedding
from ..model_base import ArtifactModel
from ..tasks import task
from .walking import ImageItem

# label maps are written as 8-bit PNGs up to this many classes, 16-bit above
UINT8_CLASSES = 256
OVERLAY_SUFFIX = ".overlay.png"
# libpng's default limit on a side (OpenCV refuses longer ones, printing libpng's complaint on stderr)
PNG_MAX_SIDE = 1_000_000


@dataclass(frozen=True)
class ImageResult:
    """One image's outcome: ``record`` (its results.jsonl fields besides "image"), ``files`` (name relative
    to the output folder, encoded bytes), ``embedding``; or ``error`` (type and reason) when it failed."""

    relative: str
    record: Mapping[str, Any] = field(default_factory=dict)
    files: tuple[tuple[str, bytes], ...] = ()
    embedding: np.ndarray | None = None
    error: tuple[str, str] | None = None

    @classmethod
    def failure(cls, item: ImageItem, error: ImageError) -> ImageResult:
        return cls(item.relative, error=(type(error).__name__, str(error)))


def label_map_name(relative: str) -> str:
    """Where an image's label map goes, relative to the output folder: its relative path + ".png"."""
    return f"{relative}.png"


def encode_label_map(labels: np.ndarray, *, num_labels: int) -> bytes:
    """(H, W) class ids as a lossless grayscale PNG: uint8 up to 256 classes, uint16 above."""
    dtype = np.uint8 if num_labels <= UINT8_CLASSES else np.uint16
    return _png(np.ascontiguousarray(labels.astype(dtype)), what="label map")


def encode_rgb_png(picture: np.ndarray) -> bytes:
    return _png(np.ascontiguousarray(picture[:, :, ::-1]), what="overlay")


def _png(pixels: np.ndarray, *, what: str) -> bytes:
    """``pixels`` as PNG bytes; ImageFormatError (the image's failure, not the run's) when a side is longer than
    PNG writers take or OpenCV cannot encode it."""
    height, width = pixels.shape[:2]
    if max(height, width) > PNG_MAX_SIDE:
        raise ImageFormatError(f"its {what} would be {width}x{height} pixels, and PNG writers take at most "
                               f"{PNG_MAX_SIDE} per side: crop or resize the image")
    ok, encoded = cv2.imencode(".png", pixels)
    if not ok:
        raise ImageFormatError(f"OpenCV could not encode its {width}x{height} {what} as PNG")
    return bytes(encoded)


class Finisher(abc.ABC):
    """Turns one batch's engine outputs into ``ImageResult``s (base: the parts every task shares)."""

    keeps_images = False  # the decoded images are needed after the engine ran (sizes, overlays)

    def __init__(self, model: ArtifactModel, *, top_k: int, overlays: bool) -> None:
        self.model = model
        self.top_k = top_k
        self.overlays = overlays

    @property
    def runs_engine_feeds(self) -> bool:
        """False when the task class must run the images itself (segmentation's sliding window)."""
        return True

    def extra_feeds(self, images: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """Engine inputs besides the pixels, for ``images`` (decoded, one tensor size)."""
        return {}

    @abc.abstractmethod
    def finish(self, items: Sequence[ImageItem], images: Sequence[np.ndarray],
               outputs: Mapping[str, np.ndarray]) -> list[ImageResult]:
        """The results of one engine call on these items' feeds (each task implements it)."""

    def run_images(self, items: Sequence[ImageItem], images: Sequence[np.ndarray]) -> list[ImageResult]:
        """The results for decoded images, the engine run here (a task whose model runs the images itself, as
        segmentation's sliding window, overrides it)."""
        feeds = self.model.pixel_feeds(list(images))
        feeds.update(self.extra_feeds(images))
        return self.finish(items, images, self.model.run(feeds))


class TopK(Finisher):
    def finish(self, items: Sequence[ImageItem], images: Sequence[np.ndarray],
               outputs: Mapping[str, np.ndarray]) -> list[ImageResult]:
        labels = self.model.labels
        results = []
        function = self.model.manifest.postprocessing.score_function
        for item, row in zip(items, scores(outputs["logits"], function), strict=True):
            predictions = top_predictions(row, self.top_k, labels)
            record = {"predictions": [{"label": p.label, "id": p.id, "score": p.score} for p in predictions]}
            results.append(ImageResult(item.relative, record))
        return results


class PooledEmbedding(Finisher):
    def finish(self, items: Sequence[ImageItem], images: Sequence[np.ndarray],
               outputs: Mapping[str, np.ndarray]) -> list[ImageResult]:
        pooled = pooled_embedding(outputs)
        return [ImageResult(item.relative, {"dim": int(vector.shape[0]), "norm": float(np.linalg.norm(vector))},
                            embedding=np.array(vector, dtype=np.float32))
                for item, vector in zip(items, pooled, strict=True)]


class VisualTokens(Finisher):
    """Masked image modeling with no patch masked: the predicted visual token of every patch."""

    def extra_feeds(self, images: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """No patch masked: one mask per image, as long as its patch grid (the images share one tensor size)."""
        from ..masked import MaskedImageModeler

        model = cast(MaskedImageModeler, self.model)  # finisher_for gives this finisher to that task only
        return {"bool_masked_pos": np.stack([model.default_mask(image) for image in images])}

    def finish(self, items: Sequence[ImageItem], images: Sequence[np.ndarray],
               outputs: Mapping[str, np.ndarray]) -> list[ImageResult]:
        tokens = outputs["logits"].astype(np.float32, copy=False).argmax(axis=-1)
        return [ImageResult(item.relative, {"token_ids": ids.tolist()})
                for item, ids in zip(items, tokens, strict=True)]


class LabelMap(Finisher):
    """Segmentation: the label map at the image's own size as a PNG, the classes present in the record."""

    keeps_images = True

    @property
    def runs_engine_feeds(self) -> bool:
        return getattr(self.model, "mode", "whole") == "whole"

    def finish(self, items: Sequence[ImageItem], images: Sequence[np.ndarray],
               outputs: Mapping[str, np.ndarray]) -> list[ImageResult]:
        from ..segmenter import labels_at_size

        postprocess = getattr(self.model, "postprocess", None)
        return [self._result(item, image, labels_at_size(logits, image.shape[:2], postprocess=postprocess))
                for item, image, logits in zip(items, images, outputs["logits"], strict=True)]

    def run_images(self, items: Sequence[ImageItem], images: Sequence[np.ndarray]) -> list[ImageResult]:
        from ..segmenter import Segmenter

        if not isinstance(self.model, Segmenter):
            raise InputError(f"label maps come from a Segmenter, not a {type(self.model).__name__}")
        segmented = self.model.segment(list(images))  # sliding-window mode: the Segmenter runs its windows itself
        return [self._result(item, image, result.labels)
                for item, image, result in zip(items, images, segmented, strict=True)]

    def _result(self, item: ImageItem, image: np.ndarray, labels: np.ndarray) -> ImageResult:
        """``item``'s label map (and overlay) encoded; a failure of ``item`` alone when one cannot be (a side
        longer than PNG allows), so the rest of the run goes on."""
        from ..legend import legend_entries, segmentation_picture

        names = self.model.labels
        try:
            files = [(label_map_name(item.relative), encode_label_map(labels, num_labels=max(len(names), 1)))]
            if self.overlays:
                picture = segmentation_picture(image, labels, id2label=names)
                files.append((item.relative + OVERLAY_SUFFIX, encode_rgb_png(picture)))
        except ImageError as error:
            return ImageResult.failure(item, error)
        record: dict[str, Any] = {"label_map": files[0][0]}
        if self.overlays:
            record["overlay"] = files[1][0]
        record["classes"] = [{"id": e.id, "label": e.name, "fraction": e.fraction}
                             for e in legend_entries(labels, names)]
        return ImageResult(item.relative, record, files=tuple(files))


# finishers by the registry's ``Task.folder_output`` (a kind of output, shared by any task that has it)
FINISHERS: Mapping[str, type[Finisher]] = {
    "top-k": TopK,
    "pooled-embedding": PooledEmbedding,
    "visual-tokens": VisualTokens,
    "label-map": LabelMap,
}


def finisher_for(model: ArtifactModel, *, top_k: int, overlays: bool) -> Finisher:
    """The finisher for ``model``'s task, from the registry's ``folder_output``."""
    kind = task(model.task).folder_output
    finisher_class = FINISHERS.get(kind)
    if finisher_class is None:
        raise InputError(f"folder runs cannot write {kind!r} outputs (task {model.task}); expected one of "
                         f"{', '.join(FINISHERS)}")
    return finisher_class(model, top_k=top_k, overlays=overlays)
