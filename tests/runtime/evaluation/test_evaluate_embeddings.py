"""A backbone evaluated and tuned on real images: the trained digits model exported as a backbone (its head
dropped) with dynamic int8, held-out digits in a plain folder. Its embeddings are judged by the nearest
neighbour each image finds among the others and by cosine similarity, against fp32's; tune uses that agreement
to choose, so a FeatureExtractor's plan can pick a faster variant."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from beit_export.demo.digits import held_out_split
from beit_runtime import FeatureExtractor
from beit_runtime.cli import main
from beit_runtime.errors import DatasetError
from beit_runtime.evaluation import EvaluationOptions, Variant, evaluate
from beit_runtime.evaluation.report import table
from beit_runtime.images import load_image
from beit_runtime.planning import read_plan
from beit_runtime.planning.tune import TuneOptions, tune
from tests.runtime.demo_digits import export_digits_int8

DIGITS = 48


@pytest.fixture(scope="module")
def backbone_artifact(tmp_path_factory):
    return export_digits_int8(tmp_path_factory.mktemp("digits-backbone"), task="backbone")


@pytest.fixture(scope="module")
def digit_images(tmp_path_factory):
    root = tmp_path_factory.mktemp("digit-photos")
    split = held_out_split()
    for index in range(DIGITS):
        Image.fromarray(split.images[index]).save(root / f"{index:03d}.png")
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return root


def nearest_others(embeddings: np.ndarray) -> np.ndarray:
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    similar = unit @ unit.T
    np.fill_diagonal(similar, -np.inf)
    return np.argmax(similar, axis=1)


def test_int8_embeddings_keep_the_neighbours_fp32_finds(backbone_artifact, digit_images):
    # batches of one: dynamic int8 quantizes each call's activations as a whole, so an image's int8 embedding
    # depends on the batch it came in, and the check below embeds each image alone too
    report = evaluate(backbone_artifact, digit_images, options=EvaluationOptions(backend="onnxruntime", batch_size=1))
    assert [r.variant for r in report.results] == [Variant("onnxruntime", "fp32"), Variant("onnxruntime", "int8")]
    assert len(report.skipped) == 1 and report.skipped[0][0].endswith("broken.png")
    reference, int8 = report.results
    assert reference.images == DIGITS and reference.figures == {"agreement": 1.0, "cosine": pytest.approx(1.0)}
    images = [load_image(digit_images / f"{index:03d}.png") for index in range(DIGITS)]
    with FeatureExtractor(backbone_artifact, precision="int8", batch_size=1) as extractor:
        ours = extractor.extract(images)
    with FeatureExtractor(backbone_artifact, batch_size=1) as extractor:
        theirs = extractor.extract(images)
    same = float(np.mean(nearest_others(ours) == nearest_others(theirs)))  # ties aside, the same figure
    assert int8.figures["agreement"] >= same and int8.figures["agreement"] >= 0.8, int8.figures
    assert 0.95 < int8.figures["cosine"] < 1.0
    header, _, int8_row = table(report).splitlines()[:3]
    assert "cosine" in header and f"{int8.figures['cosine']:.5f}" in int8_row  # not "100.00%"


@pytest.mark.parametrize(("images", "error"), [
    (0, "no image found in .*: give --data a folder of images"),
    (1, "neighbour agreement needs at least 2 readable images, got 1"),
])
def test_a_folder_with_no_neighbours_to_find_is_a_dataset_error(backbone_artifact, tmp_path, images, error):
    for index in range(images):
        Image.fromarray(held_out_split().images[index]).save(tmp_path / f"{index}.png")
    with pytest.raises(DatasetError, match=error):
        evaluate(backbone_artifact, tmp_path, options=EvaluationOptions(backend="onnxruntime", progress="off"))


def test_a_resumed_backbone_evaluation_gives_the_same_figures(backbone_artifact, digit_images, tmp_path):
    options = EvaluationOptions(backend="onnxruntime", batch_size=16, checkpoint=tmp_path / "state.json",
                                progress="off")
    first = evaluate(backbone_artifact, digit_images, options=options)
    state = json.loads((tmp_path / "state.json").read_text())
    assert state  # the embeddings' gallery went into the state file as JSON
    again = evaluate(backbone_artifact, digit_images, options=options)  # every batch measured: all from the state
    assert [r.figures for r in again.results] == [r.figures for r in first.results]


def test_tune_on_a_backbone_judges_variants_by_neighbour_agreement(backbone_artifact, digit_images, tmp_path,
                                                                   capsys):
    plan_path = tmp_path / "plan.json"
    assert main(["tune", str(backbone_artifact), "--data", str(digit_images), "--rounds", "4", "--batch-size", "4",
                 "--plan", str(plan_path)]) == 0
    plan = read_plan(plan_path)
    assert plan.accuracy_source.startswith(f"agreement with fp32 on {digit_images}")
    int8 = next(row for row in plan.rows if row.backend == "onnxruntime" and row.precision == "int8")
    assert set(int8.accuracy) == {"agreement", "cosine"}
    assert int8.drop_points == pytest.approx(100 * (1 - int8.accuracy["agreement"]), abs=1e-3)
    assert not int8.note.startswith("no accuracy figure"), int8
    summary = capsys.readouterr().out.splitlines()
    for row in plan.rows:  # an unavailable variant (bf16 without bf16 units) shows no drop: nothing was measured
        line = next(text for text in summary if text.startswith(row.name))
        assert (line.split()[1:3] == ["-", "-"]) is row.note.startswith("unavailable"), line


def test_tune_without_data_names_how_to_measure_a_backbone(backbone_artifact, tmp_path):
    plan, _ = tune(backbone_artifact, options=TuneOptions(rounds=4, batch_size=2, plan_path=tmp_path / "plan.json",
                                                          progress="off"))
    int8 = next(row for row in plan.rows if row.backend == "onnxruntime" and row.precision == "int8")
    if int8.speedup["q1"] > 1.0:  # faster here: only the missing accuracy figure keeps it out
        assert int8.note == "no accuracy figure (the parity record has none: tune --data DIR measures one)", int8
    else:
        assert int8.note in ("slower than fp32 here", "not clearly faster than fp32 here"), int8
    assert not int8.eligible and plan.chosen_precision == "fp32"
