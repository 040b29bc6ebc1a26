"""--output and --kubernetes: refused before anything is written when they are one folder or one holds the
other, when --kubernetes is a file or holds something (the message names --kubernetes); --cpu-request 0 and
--gpus on CPU instances are refused too."""

from __future__ import annotations

import pytest

from beit_export.cli import main as beit_export
from beit_export.triton.kubernetes import (
    KubernetesFolderError,
    KubernetesOptions,
    KubernetesOptionsError,
    check_folders,
)
from beit_runtime.errors import InputError

GIVEN_MEMORY = ("--memory-request-mib", "512")


def run(artifact, output, kubernetes, *extra: str) -> int:
    return beit_export(["triton", str(artifact), "--output", str(output), "--kubernetes", str(kubernetes),
                        *GIVEN_MEMORY, *extra])


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
@pytest.mark.parametrize(("output", "kubernetes", "words"), [
    ("k8s/repo", "k8s", "--output {output} lies inside --kubernetes {kubernetes}"),
    ("repo", "repo/k8s", "--kubernetes {kubernetes} lies inside --output {output}"),
    ("repo", "repo", "--kubernetes and --output name the same folder"),
    ("repo", "./repo/../repo", "--kubernetes and --output name the same folder"),
])
def test_nested_folders_are_refused_before_anything_is_written(beit_classifier_artifact, tmp_path, capsys, output,
                                                               kubernetes, words, overwrite):
    code = run(beit_classifier_artifact, tmp_path / output, tmp_path / kubernetes, *overwrite)
    err = capsys.readouterr().err
    assert code == 2, err
    assert words.format(output=tmp_path / output, kubernetes=(tmp_path / kubernetes).resolve()) in err
    assert list(tmp_path.iterdir()) == []


def test_an_existing_repository_inside_kubernetes_is_kept(beit_classifier_artifact, tmp_path, capsys):
    """The audit's case: with --overwrite the repository just written used to be replaced by the build context."""
    repo = tmp_path / "k8s" / "repo"
    repo.mkdir(parents=True)
    (repo / "mine.txt").write_text("keep", encoding="utf-8")
    assert run(beit_classifier_artifact, repo, tmp_path / "k8s", "--overwrite") == 2
    assert "lies inside --kubernetes" in capsys.readouterr().err
    assert [path.name for path in repo.iterdir()] == ["mine.txt"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["k8s"]


def test_existing_kubernetes_folder_names_kubernetes(beit_classifier_artifact, tmp_path, capsys):
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    (deploy / "mine.txt").write_text("keep", encoding="utf-8")
    assert run(beit_classifier_artifact, tmp_path / "repo", deploy) == 2
    err = capsys.readouterr().err
    assert f"--kubernetes {deploy} exists and is not empty; pass --overwrite" in err and "--output" not in err
    assert not (tmp_path / "repo").exists()


def test_kubernetes_naming_a_file_is_refused_naming_kubernetes(beit_classifier_artifact, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("mine", encoding="utf-8")
    assert run(beit_classifier_artifact, tmp_path / "repo", afile, "--overwrite") == 2
    assert f"--kubernetes {afile} is a file; expected a folder path" in capsys.readouterr().err
    assert afile.read_text(encoding="utf-8") == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_folder_errors_are_input_errors(tmp_path):
    with pytest.raises(KubernetesFolderError, match="lies inside --output") as caught:
        check_folders(tmp_path / "repo", tmp_path / "repo" / "deep" / "k8s", overwrite=True)
    assert isinstance(caught.value, InputError)
    check_folders(tmp_path / "repo", tmp_path / "repo-k8s", overwrite=False)  # a shared prefix is not nesting


@pytest.mark.parametrize("quantity", ["0", "0m", "0.000", "0.0"])
def test_zero_cpu_request_is_refused(quantity):
    with pytest.raises(KubernetesOptionsError, match="above 0"):
        KubernetesOptions(cpu_request=quantity)
    assert KubernetesOptions(cpu_request="1m").cpu_request == "1m"


def test_zero_cpu_request_on_the_command_line(beit_classifier_artifact, tmp_path, capsys):
    assert run(beit_classifier_artifact, tmp_path / "repo", tmp_path / "deploy", "--cpu-request", "0") == 2
    assert "--cpu-request '0'" in capsys.readouterr().err and list(tmp_path.iterdir()) == []


def test_gpus_for_cpu_instances_are_refused(beit_classifier_artifact, tmp_path, capsys):
    assert run(beit_classifier_artifact, tmp_path / "repo", tmp_path / "deploy", "--gpus", "2") == 2
    assert "--gpus 2" in (err := capsys.readouterr().err) and "add --kind gpu" in err
    assert list(tmp_path.iterdir()) == []


def test_kubernetes_in_a_folder_that_cannot_be_made_names_kubernetes(beit_classifier_artifact, tmp_path, capsys):
    (tmp_path / "afile").write_text("mine", encoding="utf-8")
    assert run(beit_classifier_artifact, tmp_path / "repo", tmp_path / "afile" / "deploy") == 2
    assert f"--kubernetes's folder {tmp_path / 'afile'} is a file" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]
