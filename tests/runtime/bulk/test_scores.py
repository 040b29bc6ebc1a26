"""A folder run reports the scores the in-process Classifier reports, with the artifact's score function (sigmoid
for a multi-label checkpoint: a folder run used softmax whatever the manifest said)."""

from __future__ import annotations

import json

import numpy as np
import skimage.data
from PIL import Image

from beit_runtime import Classifier
from beit_runtime.cli import main


def test_a_multi_label_folder_run_reports_the_classifiers_sigmoid_scores(vit_multilabel_artifact, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(skimage.data.chelsea()).save(photos / "cat.png")
    Image.fromarray(skimage.data.astronaut()).save(photos / "astronaut.jpg")
    out = tmp_path / "out"
    assert main([str(vit_multilabel_artifact), str(photos), "--output", str(out), "--top-k", "3"]) == 0
    records = {record["image"]: record["predictions"]
               for record in map(json.loads, (out / "results.jsonl").read_text(encoding="utf-8").splitlines())}
    with Classifier(vit_multilabel_artifact) as classifier:
        assert classifier.score_function == "sigmoid"
        for name, predictions in records.items():
            want = classifier(photos / name, top_k=3)
            assert [p["id"] for p in predictions] == [p.id for p in want]
            np.testing.assert_allclose([p["score"] for p in predictions], [p.score for p in want], atol=1e-6, rtol=0)
