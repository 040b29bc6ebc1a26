"""--plan is read when the repository options are made: a file that is empty, not JSON or not a plan is
refused (exit 2, naming --plan and the problem) before anything is written, and the file is left as it was."""

from __future__ import annotations

import dataclasses
import json

import pytest

from beit_export.cli import main
from beit_export.triton import TritonRepositoryOptions
from beit_export.triton.options import TritonOptionsError

AUTO = ("--model-backend", "python", "--precision", "auto")


@pytest.mark.parametrize(("content", "problem"), [
    (b"", "cannot be read"),
    (b"{not json", "cannot be read"),
    (b"\xff\xfe\x00binary", "cannot be read"),
    (json.dumps({"format": "something-else"}).encode(), "is not a beit-deploy plan"),
    (json.dumps([1, 2]).encode(), "is not a beit-deploy plan"),
    (json.dumps({"format": "beit-deploy-plan", "schema_version": 2, "rows": []}).encode(), "is a damaged plan"),
    (json.dumps({"format": "beit-deploy-plan", "schema_version": 1, "rows": []}).encode(), "is a plan of schema 1"),
])
def test_a_bad_plan_file_is_refused_naming_plan(beit_classifier_artifact, tmp_path, capsys, content, problem):
    plan = tmp_path / "plan.json"
    plan.write_bytes(content)
    code = main(["triton", str(beit_classifier_artifact), "--output", str(tmp_path / "repo"), *AUTO,
                 "--plan", str(plan)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"--plan {plan} is not a usable plan" in err and problem in err and "beit-run tune" in err
    assert plan.read_bytes() == content and not (tmp_path / "repo").exists()


def test_a_folder_or_missing_plan_is_refused(tmp_path):
    for path in (tmp_path, tmp_path / "missing.json"):
        with pytest.raises(TritonOptionsError, match=r"--plan .* does not exist or is not a file"):
            TritonRepositoryOptions(model_backend="python", precision="auto", plan=path)


def test_a_plan_made_for_another_artifact_is_refused_with_the_runtime_s_reason(beit_classifier_artifact, tmp_path,
                                                                              capsys):
    from beit_runtime import load_manifest
    from beit_runtime.planning.machine import machine_description, machine_key
    from beit_runtime.planning.plan import Plan, write_plan

    manifest = load_manifest(beit_classifier_artifact)
    plan = Plan(machine=machine_description(), machine_key=machine_key(), artifact_digest="c" * 64,
                artifact="another", batch_size=8, max_drop=1.0, accuracy_source="labelled x",
                chosen_backend="onnxruntime", chosen_precision="int8", reason="r", rows=())
    path = write_plan(plan, tmp_path / "other.json")
    code = main(["triton", str(beit_classifier_artifact), "--output", str(tmp_path / "repo"), *AUTO,
                 "--plan", str(path)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert (f"--plan {path} cannot be served with {manifest.folder}: the plan was made for another artifact "
            "(its graph files differ); run `beit-run tune` on this one") in err
    assert not (tmp_path / "repo").exists()
    elsewhere = {**machine_description(), "cpu": "another"}  # made on the serving machine, not this one: taken
    here = dataclasses.replace(plan, artifact_digest=manifest.files_digest, machine=elsewhere,
                               machine_key=machine_key(elsewhere))
    options = TritonRepositoryOptions(model_backend="python", precision="auto", plan=write_plan(here, path))
    options.check_plan_for(manifest)
