"""The finishers' shared default: ``run_images`` runs the engine on the images itself and gives the results
``finish`` gives for the same feeds (what segmentation's sliding window overrides)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import skimage.data

from beit_runtime import Classifier
from beit_runtime.bulk.results import TopK, finisher_for
from beit_runtime.bulk.walking import ImageItem


def test_run_images_equals_finish_on_the_engine_feeds(beit_classifier_artifact):
    model = Classifier(beit_classifier_artifact)
    finisher = finisher_for(model, top_k=3, overlays=False)
    assert isinstance(finisher, TopK)
    images = [np.ascontiguousarray(skimage.data.chelsea()), np.ascontiguousarray(skimage.data.astronaut())]
    items = [ImageItem(path=Path(f"{index}.png"), relative=f"{index}.png") for index in range(len(images))]
    ran = finisher.run_images(items, images)
    feeds = model.pixel_feeds(images)
    finished = finisher.finish(items, images, model.run(feeds))
    assert [result.record for result in ran] == [result.record for result in finished]
    assert [len(result.record["predictions"]) for result in ran] == [3, 3]
