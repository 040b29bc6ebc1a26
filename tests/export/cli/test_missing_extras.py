"""beit-export where an extra's module is not installed: the help still answers, and a command that needs the module
exits 5 with one line naming the `pip install "beit-deploy[EXTRA]"` that installs it (no traceback, nothing
written)."""

from __future__ import annotations

from tests.hidden_modules import run_without

EXPORT_EXTRA = '`pip install "beit-deploy[export]"`'


def test_triton_help_answers_without_pyyaml():
    done = run_without(["yaml"], "beit_export.cli:main", ["triton", "--help"])
    assert done.returncode == 0, done.stderr
    assert "--kubernetes DIR" in done.stdout and "nvcr.io/nvidia/tritonserver" in done.stdout


def test_kubernetes_without_pyyaml_exits_5_before_the_repository_is_written(beit_classifier_artifact, tmp_path):
    done = run_without(["yaml"], "beit_export.cli:main", [
        "triton", str(beit_classifier_artifact), "--output", str(tmp_path / "repo"), "--kubernetes",
        str(tmp_path / "deploy"), "--memory-request-mib", "512"])
    assert done.returncode == 5, done.stderr
    assert done.stderr.strip() == ("beit-export: error: --kubernetes (its manifests) needs PyYAML, which is not "
                                   f"installed; install it with {EXPORT_EXTRA}"), done.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_export_without_torch_names_the_export_extra(tmp_path):
    done = run_without(["torch"], "beit_export.cli:main", [
        "--model", "beit-deploy/demo-classification", "--output", str(tmp_path / "out"), "--quiet"])
    assert done.returncode == 5, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"beit-export: error: torch is not installed; install it with {EXPORT_EXTRA}"), done.stderr
    assert list(tmp_path.iterdir()) == []
