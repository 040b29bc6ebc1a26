"""One batch of a folder run, in two halves: ``prepare`` (decode + preprocess, on reader threads) and
``complete`` (the engine and the task's post-processing, on the thread that owns the engine).

An image that cannot be decoded, or whose tensor is smaller than the graph can run, becomes a failed
``ImageResult`` and the rest of its batch goes on. When a recipe makes tensors of different sizes
(shortest-edge resizes without a crop, own-size recipes), the batch runs as one engine call per size; images
whose attention fits one at a time but not together run in as many calls as it takes, and an image whose
attention does not fit even alone fails alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import ImageError
from ..images import load_image
from ..model_base import ArtifactModel
from .results import Finisher, ImageResult, finisher_for
from .walking import ImageItem


@dataclass
class PreparedBatch:
    """A batch ready for the engine: the images that decoded (``images`` kept only when the finisher needs
    them), their engine feeds in groups of one call each, and the results of those that failed."""

    items: list[ImageItem]
    order: list[str]  # every item's relative name, in the batch's order (results come back in it)
    images: list[np.ndarray] = field(default_factory=list)
    feeds: list[tuple[list[int], dict[str, np.ndarray]]] = field(default_factory=list)  # (indices, feeds)
    failures: list[ImageResult] = field(default_factory=list)


class BatchProcessor:
    """Runs batches of ``ImageItem`` through one loaded task class; ``prepare`` is thread-safe."""

    def __init__(self, model: ArtifactModel, *, top_k: int = 5, overlays: bool = False) -> None:
        self.model = model
        self.finisher: Finisher = finisher_for(model, top_k=top_k, overlays=overlays)

    def process(self, items: Sequence[ImageItem]) -> list[ImageResult]:
        """``prepare`` then ``complete``, on this thread."""
        return self.complete(self.prepare(items))

    def prepare(self, items: Sequence[ImageItem]) -> PreparedBatch:
        batch = PreparedBatch(items=[], order=[item.relative for item in items])
        decoded: list[np.ndarray] = []
        for item in items:
            try:
                image = load_image(item.path, exif_orientation=self.model.exif_orientation)
                self.model.check_image_sizes([image])
                if self.finisher.runs_engine_feeds:  # slide mode runs crops: their size is bounded
                    self.model.check_attention([image])  # too many tokens: this image fails alone
            except ImageError as error:
                batch.failures.append(ImageResult.failure(item, error))
                continue
            decoded.append(image)
            batch.items.append(item)
        if decoded and self.finisher.runs_engine_feeds:
            batch.feeds = self._feeds(decoded)
        if self.finisher.keeps_images or not self.finisher.runs_engine_feeds:
            batch.images = decoded  # else dropped here: only the (much smaller) tensors wait for the engine
        return batch

    def _feeds(self, images: list[np.ndarray]) -> list[tuple[list[int], dict[str, np.ndarray]]]:
        """One engine call per tensor size among the batch's images (one call when they share it), split further
        when their attention fits one image at a time but not all together (``ArtifactModel.planned_batches``)."""
        return [(indices, self._feed([images[index] for index in indices]))
                for indices in self.model.planned_batches(images)]

    def _feed(self, images: list[np.ndarray]) -> dict[str, np.ndarray]:
        feeds = self.model.pixel_feeds(images)
        feeds.update(self.finisher.extra_feeds(images))
        return feeds

    def complete(self, batch: PreparedBatch) -> list[ImageResult]:
        """The engine and the post-processing; every item's result (failures included), in batch order."""
        results = list(batch.failures)
        if not self.finisher.runs_engine_feeds and batch.items:
            results.extend(self.finisher.run_images(batch.items, batch.images))
        for indices, feeds in batch.feeds:
            outputs = self.model.run(feeds)
            images = [batch.images[index] for index in indices] if batch.images else []
            results.extend(self.finisher.finish([batch.items[index] for index in indices], images, outputs))
        position = {relative: index for index, relative in enumerate(batch.order)}
        return sorted(results, key=lambda result: position[result.relative])
