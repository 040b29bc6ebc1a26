"""``tune`` on the shipped digits classifier: every variant measured here, a consistent choice, a plan file."""

from __future__ import annotations

import math

import pytest
from PIL import Image

from beit_export.demo.digits import held_out_split
from beit_runtime.errors import InputError
from beit_runtime.planning import applicable, read_plan
from beit_runtime.planning.plan import SLOWER_NOTE
from beit_runtime.planning.tune import TuneOptions, tune
from tests.runtime.demo_digits import export_digits_int8


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    return export_digits_int8(tmp_path_factory.mktemp("digits"))


@pytest.fixture(scope="module")
def digit_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("digit-images")
    split = held_out_split()
    for index in range(64):
        (root / str(int(split.labels[index]))).mkdir(exist_ok=True)
        Image.fromarray(split.images[index]).save(root / str(int(split.labels[index])) / f"{index}.png")
    return root


def _check_consistent(plan, max_drop):
    names = [row.name for row in plan.rows]
    assert names[0] == "onnxruntime-fp32" and "onnxruntime-int8" in names
    for row in plan.rows:
        if row.note.startswith("unavailable"):
            assert not row.eligible
            continue
        assert row.speedup["rounds"] >= 3
        if row.note == SLOWER_NOTE:
            assert row.speedup["median"] < 1.0 and not row.eligible
        if row.eligible:
            assert row.speedup["q1"] > 1.0 and row.drop_points <= max_drop
    chosen = f"{plan.chosen_backend}-{plan.chosen_precision}"
    eligible = [row for row in plan.rows if row.eligible]
    if eligible:
        assert chosen == max(eligible, key=lambda row: row.speedup["median"]).name
    else:
        assert chosen == "onnxruntime-fp32" and "no variant" in plan.reason


def test_tune_on_labelled_digits_writes_a_plan_that_picks_only_faster_variants_within_the_drop(artifact, digit_folder,
                                                                                              tmp_path):
    plan, path = tune(artifact, options=TuneOptions(data=digit_folder, max_drop=1.0, batch_size=16, rounds=5,
                                                    plan_path=tmp_path / "plan.json"))
    assert path == tmp_path / "plan.json" and read_plan(path) == plan
    _check_consistent(plan, 1.0)
    fp32 = plan.rows[0]
    assert fp32.accuracy["top1"] >= 0.9 and fp32.drop_points == 0.0
    assert "labelled" in plan.accuracy_source


def test_tune_without_data_uses_the_exporters_parity_agreement_and_the_user_cache(artifact, tmp_path, monkeypatch):
    monkeypatch.setenv("BEIT_DEPLOY_CACHE", str(tmp_path / "cache"))
    plan, path = tune(artifact, options=TuneOptions(rounds=4, batch_size=4))
    assert path.parent == tmp_path / "cache" / "plans" and path.is_file()
    int8 = next(row for row in plan.rows if row.name == "onnxruntime-int8")
    assert 0.0 <= int8.accuracy["agreement"] <= 1.0 and not math.isnan(int8.drop_points)
    assert "parity" in plan.accuracy_source
    _check_consistent(plan, 1.0)
    assert applicable(plan, digest=plan.artifact_digest) == ""
    assert "another artifact" in applicable(plan, digest="0" * 64)


def test_precision_auto_follows_a_plan_for_this_machine_and_refuses_one_from_elsewhere(artifact, tmp_path):
    import dataclasses

    from beit_runtime import Classifier
    from beit_runtime.planning import write_plan

    plan, path = tune(artifact, options=TuneOptions(rounds=4, batch_size=4, plan_path=tmp_path / "plan.json"))
    forced = dataclasses.replace(plan, chosen_backend="onnxruntime", chosen_precision="int8", reason="forced")
    write_plan(forced, path)
    with Classifier(artifact, precision="auto", plan=path) as model:
        assert (model.backend, model.precision) == ("onnxruntime", "int8")
        assert "auto: plan" in repr(model) and "forced" in repr(model)
    other = {**forced.machine, "kernel_flags": ["avx2"]}
    write_plan(dataclasses.replace(forced, machine=other, machine_key="0" * 16), path)
    with Classifier(artifact, precision="auto", plan=path) as model:
        assert model.precision == "fp32" and "another machine" in model.choice
    with pytest.raises(InputError, match=r"missing\.json does not exist: make it with `beit-run tune"):
        Classifier(artifact, precision="auto", plan=tmp_path / "missing.json")


def test_beit_run_evaluate_and_tune_commands(artifact, digit_folder, tmp_path, capsys):
    import json

    from beit_runtime.cli import main

    assert main(["evaluate", str(artifact), "--data", str(digit_folder), "--backend", "onnxruntime", "--json",
                 "--output", str(tmp_path / "report")]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {row["precision"] for row in rows} == {"fp32", "int8"}
    assert all({"backend", "precision", "images", "agreement", "images_per_s", "top1"} <= set(row) for row in rows)
    report = tmp_path / "report"
    assert (report / "evaluation.md").is_file() and (report / "accuracy-vs-speed.png").is_file()
    (tmp_path / "empty").mkdir()
    assert main(["evaluate", str(artifact), "--data", str(tmp_path / "empty")]) == 2
    assert "no image files" in capsys.readouterr().err
    assert main(["tune", str(artifact), "--rounds", "4", "--plan", str(tmp_path / "p.json")]) == 0
    assert "chosen:" in capsys.readouterr().out and (tmp_path / "p.json").is_file()
    assert main(["tune", str(artifact), "--unlabelled"]) == 2
