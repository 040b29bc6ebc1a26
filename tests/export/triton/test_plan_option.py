"""--plan is read when the repository options are made: a file that is empty, not JSON or not a plan is
refused (exit 2, naming --plan and the problem) before anything is written, and the file is left as it was."""

from __future__ import annotations

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
    (json.dumps({"format": "beit-deploy-plan", "schema_version": 1, "rows": []}).encode(), "is a damaged plan"),
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
