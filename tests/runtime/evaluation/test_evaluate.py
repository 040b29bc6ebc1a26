"""``evaluate`` on real labelled data: held-out digits as an ImageFolder and demo scenes with their masks."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from beit_export.checkpoint import load_checkpoint
from beit_export.demo import checkpoint_dir
from beit_export.demo.digits import held_out_split
from beit_export.demo.metrics import mean_iou
from beit_export.demo.scenes import CLASS_NAMES, generate_scenes
from beit_export.options import ExportOptions
from beit_export.pipeline import export_artifact
from beit_runtime import Classifier, Segmenter
from beit_runtime.datasets import Sample
from beit_runtime.errors import DatasetError
from beit_runtime.evaluation import EvaluationOptions, Variant, evaluate
from beit_runtime.evaluation.evaluate import limited
from tests.runtime.demo_digits import export_digits_int8

DIGITS = 120  # the first held-out digits: never trained on


@pytest.fixture(scope="module")
def digits_artifact(tmp_path_factory):
    return export_digits_int8(tmp_path_factory.mktemp("digits"))


@pytest.fixture(scope="module")
def digit_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("digit-images")
    split = held_out_split()
    for index in range(DIGITS):
        folder = root / str(int(split.labels[index]))
        folder.mkdir(exist_ok=True)
        Image.fromarray(split.images[index]).save(folder / f"{index:04d}.png")
    (root / "3" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (root / "README.txt").write_text("not an image: ignored")
    return root


def test_classification_top1_equals_the_classifier_and_corrupt_files_are_counted(digits_artifact, digit_folder):
    report = evaluate(digits_artifact, digit_folder, options=EvaluationOptions(backend="onnxruntime", batch_size=32))
    assert [r.variant for r in report.results] == [Variant("onnxruntime", "fp32"), Variant("onnxruntime", "int8")]
    assert len(report.skipped) == 1 and report.skipped[0][0].endswith("broken.png")
    split = held_out_split()
    with Classifier(digits_artifact) as classifier:
        expected = float(np.mean(np.argmax(classifier.logits(list(split.images[:DIGITS])), 1) == split.labels[:DIGITS]))
    reference, int8 = report.results
    assert reference.images == DIGITS and reference.figures["top1"] == pytest.approx(expected)
    assert reference.figures["agreement"] == 1.0 and reference.figures["top5"] >= reference.figures["top1"]
    assert abs(int8.figures["top1"] - reference.figures["top1"]) <= 0.02 and int8.figures["agreement"] >= 0.95
    row = int8.as_json()
    assert row["backend"] == "onnxruntime" and row["precision"] == "int8" and row["images_per_s"] > 0


def test_a_class_folder_that_is_not_a_label_is_named(digits_artifact, tmp_path):
    (tmp_path / "eleven").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "eleven" / "x.png")
    with pytest.raises(DatasetError, match="'eleven'"):
        evaluate(digits_artifact, tmp_path)


def test_a_folder_of_only_unreadable_images_is_a_dataset_error(digits_artifact, tmp_path):
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "x.jpg").write_bytes(b"nope")
    with pytest.raises(DatasetError, match="could be read"):
        evaluate(digits_artifact, tmp_path)


@pytest.fixture(scope="module")
def scene_artifact(tmp_path_factory):
    checkpoint = load_checkpoint(str(checkpoint_dir()))
    return export_artifact(checkpoint, output=tmp_path_factory.mktemp("scenes") / "a", options=ExportOptions())


def test_segmentation_miou_equals_the_demo_metric_on_unseen_scenes(scene_artifact, tmp_path):
    scenes = generate_scenes(6, seed=31_000, size=None)
    for index, (image, mask) in enumerate(scenes):
        (tmp_path / "images").mkdir(exist_ok=True)
        (tmp_path / "masks").mkdir(exist_ok=True)
        Image.fromarray(image).save(tmp_path / "images" / f"s{index}.png")
        Image.fromarray(mask.astype(np.uint8)).save(tmp_path / "masks" / f"s{index}.png")
    report = evaluate(scene_artifact, tmp_path, options=EvaluationOptions(backend="onnxruntime"))
    with Segmenter(scene_artifact) as segmenter:
        predicted = [result.labels for result in segmenter([image for image, _ in scenes])]
    expected, _ = mean_iou(predicted, [mask for _, mask in scenes], num_classes=len(CLASS_NAMES))
    assert report.results[0].figures["miou"] == pytest.approx(expected)
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / "masks" / "s0.png")
    with pytest.raises(DatasetError, match=r"s0\.png is 5x5 but its image"):
        evaluate(scene_artifact, tmp_path, options=EvaluationOptions(backend="onnxruntime"))


def test_a_limit_spreads_over_every_class_and_a_larger_one_extends_it(tmp_path):
    samples = [Sample(tmp_path / f"class_{label}" / f"{index:03d}.png", target=label)
               for label in range(4) for index in range(25)]  # by name, the first 20 are all class_0
    chosen, selection = limited(samples, root=tmp_path, limit=20)
    assert len({sample.target for sample in chosen}) == 4
    assert selection.startswith("20 of 100 images, 4 of 4 classes (--limit: a spread sample")
    larger, _ = limited(samples, root=tmp_path, limit=50)
    everything, note = limited(samples, root=tmp_path, limit=None)
    assert larger[:20] == chosen and everything[:50] == larger and note == ""
    assert sorted(everything, key=lambda sample: sample.path) == samples
