"""Classifier scores as transformers' image-classification pipeline gives them: softmax for single-label
checkpoints, sigmoid for multi-label ones and for a single logit, the logits themselves for regression."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import skimage.data
from PIL import Image

from beit_runtime import Classifier
from beit_runtime.errors import ManifestError
from tests.conftest import VIT_PROCESSOR_CONFIG, tiny_checkpoint

CASES = {  # name -> (config overrides, the score function the manifest must record)
    "single-label": ({"problem_type": "single_label_classification"}, "softmax"),
    "multi-label": ({"problem_type": "multi_label_classification"}, "sigmoid"),
    "one-logit": ({"num_labels": 1, "id2label": {0: "yes"}, "label2id": {"yes": 0}}, "sigmoid"),
    "regression": ({"problem_type": "regression", "num_labels": 3,
                    "id2label": {0: "a", 1: "b", 2: "c"}, "label2id": {"a": 0, "b": 1, "c": 2}}, "none"),
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """name -> (artifact folder, the PyTorch model it was exported from), exported once per module."""
    from beit_export.pipeline import export_artifact

    folders = {}
    for name, (overrides, _) in CASES.items():
        checkpoint = tiny_checkpoint("vit", "image-classification", **overrides)
        folder = export_artifact(checkpoint, output=tmp_path_factory.mktemp("scores") / name)
        folders[name] = (folder, checkpoint.model)
    return folders


def pipeline_scores(model, image: np.ndarray, top_k: int) -> list[tuple[str, float]]:
    import transformers

    processor = transformers.DeiTImageProcessorPil(
        **{k: v for k, v in VIT_PROCESSOR_CONFIG.items() if k != "image_processor_type"})
    pipe = transformers.pipeline("image-classification", model=model, image_processor=processor)
    return [(row["label"], row["score"]) for row in pipe(Image.fromarray(image), top_k=top_k)]


@pytest.mark.parametrize("name", sorted(CASES))
def test_scores_match_the_transformers_pipeline(exported, name):
    folder, model = exported[name]
    cat = np.ascontiguousarray(skimage.data.chelsea())
    expected = pipeline_scores(model, cat, top_k=3)
    with Classifier(folder) as classifier:
        got = classifier.classify(cat, top_k=3)
        assert [p.label for p in got] == [label for label, _ in expected]
        np.testing.assert_allclose([p.score for p in got], [score for _, score in expected], atol=1e-5, rtol=0)
        assert classifier.score_function == CASES[name][1]
    assert json.loads((folder / "manifest.json").read_text())["postprocessing"] == {"score": CASES[name][1]}


def _with_postprocessing(source, target, postprocessing):
    shutil.copytree(source, target)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["postprocessing"] = postprocessing
    (target / "manifest.json").write_text(json.dumps(manifest))
    return target


def test_manifest_without_score_means_softmax(exported, tmp_path):
    folder = _with_postprocessing(exported["single-label"][0], tmp_path / "old", {})
    cat = np.ascontiguousarray(skimage.data.chelsea())
    with Classifier(folder) as classifier, Classifier(exported["single-label"][0]) as current:
        assert classifier.score_function == "softmax"
        assert classifier.classify(cat, top_k=3) == current.classify(cat, top_k=3)


def test_unknown_score_function_is_a_manifest_error(exported, tmp_path):
    folder = _with_postprocessing(exported["multi-label"][0], tmp_path / "bad", {"score": "tanh"})
    with pytest.raises(ManifestError, match="'score' must be one of softmax, sigmoid, none"):
        Classifier(folder)
