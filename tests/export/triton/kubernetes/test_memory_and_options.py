"""The memory request comes from the peak measured on the real local Triton (plus the stated headroom) or
from --memory-request-mib; bad options are typed errors naming the fix; DIR is written whole or not at
all, and an existing one is kept without --overwrite."""

from __future__ import annotations

import json
import re

import pytest

from beit_export.cli import main as beit_export
from beit_export.triton.kubernetes import KubernetesOptions, KubernetesOptionsError, memory_request_mib
from beit_export.triton.kubernetes import writer as writer_module
from beit_export.triton.kubernetes.options import MEMORY_HEADROOM, MEMORY_LIMIT_FACTOR

from .conftest import CLASSIFIER_OPTIONS, documents

PEAK = "beit-deploy.io/memory-peak-mib"


def resources(folder) -> dict:
    return documents(folder)["kubernetes/deployment.yaml"]["spec"]["template"]["spec"]["containers"][0]["resources"]


def mebibytes(quantity: str) -> int:
    assert quantity.endswith("Mi"), quantity
    return int(quantity[:-2])


def test_memory_request_is_the_measured_peak_with_headroom(classifier_folder):
    deployment = documents(classifier_folder)["kubernetes/deployment.yaml"]
    peak = float(deployment["metadata"]["annotations"][PEAK])
    assert 100 < peak < 8192  # tritonserver + 3 python stubs with numpy, OpenCV and ONNX Runtime loaded
    request = mebibytes(resources(classifier_folder)["requests"]["memory"])
    assert request == memory_request_mib(peak) and peak * MEMORY_HEADROOM <= request < peak * MEMORY_HEADROOM + 16
    assert mebibytes(resources(classifier_folder)["limits"]["memory"]) == int(request * MEMORY_LIMIT_FACTOR)
    measured = deployment["metadata"]["annotations"]["beit-deploy.io/memory-measured"]
    assert re.search(r"after 12 requests of one [0-9x]+ PNG .* at batch size 4, Triton 2\.51\.0 on ", measured), \
        measured
    assert deployment["spec"]["template"]["metadata"]["annotations"][PEAK] == f"{peak:.1f}"
    readme = (classifier_folder / "README.md").read_text(encoding="utf-8")
    assert f"{peak:.0f} MiB peak RSS" in readme
    assert "docker build -t registry.example.com/beit/cls:1.0 ." in readme
    # trying the image on one machine: the pods' /dev/shm and the Dockerfile's ports
    exposed = (classifier_folder / "Dockerfile").read_text().split("\nEXPOSE ")[1].split("\n")[0].split()
    ports = " ".join(f"-p {port}:{port}" for port in exposed)
    shm = shm_limit_mib(classifier_folder)  # the measured /dev/shm regions x 1.25 (over the 256 MiB default)
    assert f"docker run --rm --shm-size={shm}m {ports} registry.example.com/beit/cls:1.0" in readme


def test_memory_request_given_is_used_as_is(segmenter_folder):
    assert resources(segmenter_folder)["requests"]["memory"] == "700Mi"
    limit = max(int(700 * MEMORY_LIMIT_FACTOR), 700 + shm_limit_mib(segmenter_folder))
    assert resources(segmenter_folder)["limits"]["memory"] == f"{limit}Mi"
    annotations = documents(segmenter_folder)["kubernetes/deployment.yaml"]["metadata"]["annotations"]
    assert PEAK not in annotations and "--memory-request-mib" in annotations["beit-deploy.io/memory-request"]


@pytest.mark.parametrize(("options", "words"), [
    ({"replicas": 0}, "--replicas must be an integer >= 1"),
    ({"replicas": 3, "max_replicas": 2}, "raise --max-replicas"),
    ({"image": "Not An Image"}, "--image"),
    ({"cpu_request": "lots"}, "500m"),
    ({"grace_period_s": 0}, "--grace-period"),
    ({"grace_period_s": 5}, "--grace-period must be an integer >= 6 (beit-serve's minimum"),
    ({"memory_request_mib": 10}, "--memory-request-mib must be an integer >= 64"),
    ({"app_name": "Bad_Name"}, "DNS-1123"),
])
def test_bad_options_are_typed_errors_naming_the_fix(options, words):
    with pytest.raises(KubernetesOptionsError, match=re.escape(words)):
        KubernetesOptions(**options)


def test_stop_budget_adds_up():
    options = KubernetesOptions(grace_period_s=40, prestop_sleep_s=7)
    assert options.termination_grace_period_s == 7 + 40 + 5


def test_kubernetes_options_without_kubernetes_are_refused(beit_classifier_artifact, tmp_path, capsys):
    code = beit_export(["triton", str(beit_classifier_artifact), "--output", str(tmp_path / "repo"), "--replicas", "2"])
    assert code == 2 and "add --kubernetes DIR" in capsys.readouterr().err
    assert not (tmp_path / "repo").exists()


def test_bad_option_writes_nothing(beit_classifier_artifact, tmp_path, capsys):
    code = beit_export(["triton", str(beit_classifier_artifact), "--output", str(tmp_path / "repo"),
                        "--kubernetes", str(tmp_path / "deploy"), "--cpu-request", "lots"])
    assert code == 2 and "--cpu-request" in capsys.readouterr().err
    assert not (tmp_path / "repo").exists() and not (tmp_path / "deploy").exists()


def test_no_local_server_asks_for_memory_request(beit_classifier_artifact, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BEIT_SERVE_HOME", str(tmp_path / "no-server"))
    code = beit_export(["triton", str(beit_classifier_artifact), "--output", str(tmp_path / "repo"),
                        "--kubernetes", str(tmp_path / "deploy")])
    err = capsys.readouterr().err
    assert code == 2 and "beit-serve --setup" in err and "--memory-request-mib" in err
    assert not (tmp_path / "repo").exists() and not (tmp_path / "deploy").exists()


def test_existing_folder_is_kept_without_overwrite(beit_classifier_artifact, tmp_path, capsys):
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    (deploy / "mine.txt").write_text("keep", encoding="utf-8")
    argv = ["triton", str(beit_classifier_artifact), "--output", str(tmp_path / "repo"), "--kubernetes", str(deploy),
            "--memory-request-mib", "512"]
    assert beit_export(argv) == 2 and "--overwrite" in capsys.readouterr().err
    assert [path.name for path in deploy.iterdir()] == ["mine.txt"] and not (tmp_path / "repo").exists()
    assert beit_export([*argv, "--overwrite"]) == 2 and "not an earlier beit-export output" in capsys.readouterr().err
    (deploy / "models").mkdir()  # an earlier build context
    (deploy / "models" / "repository.json").write_text('{"format": "beit-deploy-triton-repository"}')
    assert beit_export([*argv, "--overwrite"]) == 0
    assert not (deploy / "mine.txt").exists() and (deploy / "Dockerfile").is_file()


def test_a_failure_leaves_no_partial_folder(beit_classifier_artifact, tmp_path, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise OSError("disk full (injected)")

    monkeypatch.setattr(writer_module, "deploy_readme", broken)
    code = beit_export(["triton", str(beit_classifier_artifact), "--output", str(tmp_path / "repo"),
                        "--kubernetes", str(tmp_path / "deploy"), "--memory-request-mib", "512"])
    assert code == 1 and "disk full (injected)" in capsys.readouterr().err
    assert not (tmp_path / "deploy").exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["repo"]  # no hidden staging folder or lock left


def test_gpu_pods_ask_for_a_gpu():
    import kubernetes_validate

    from beit_export.triton.kubernetes import manifests

    found = manifests(KubernetesOptions(gpus=1, memory_request_mib=512), name="gpu", memory=None)
    deployment = found["kubernetes/deployment.yaml"]
    limits = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits == {"memory": f"{int(512 * MEMORY_LIMIT_FACTOR)}Mi", "nvidia.com/gpu": 1}
    kubernetes_validate.validate(deployment, kubernetes_validate.latest_version(), strict=True)
    assert found["kserve/inferenceservice.yaml"]["spec"]["predictor"]["model"]["resources"]["limits"] == limits


@pytest.mark.parametrize(("folder_name", "extra", "words"), [
    ("deploy", ["--execution-env", "/somewhere/env"], "drop --execution-env"),
    ("repo", [], "the same folder"),
])
def test_conflicting_folders_and_environments_are_refused(beit_classifier_artifact, tmp_path, capsys, folder_name,
                                                          extra, words):
    argv = ["triton", str(beit_classifier_artifact), "--output", str(tmp_path / "repo"),
            "--kubernetes", str(tmp_path / folder_name), "--memory-request-mib", "512", *extra]
    assert beit_export(argv) == 2 and words in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_gpu_repository_gets_a_gpu_per_pod(beit_classifier_artifact, tmp_path):
    argv = ["triton", str(beit_classifier_artifact), "--output", str(tmp_path / "repo"), "--kind", "gpu",
            "--kubernetes", str(tmp_path / "deploy"), "--memory-request-mib", "512"]
    assert beit_export(argv) == 0
    assert resources(tmp_path / "deploy")["limits"]["nvidia.com/gpu"] == 1


@pytest.mark.parametrize(("request_mib", "shm_mib", "limit_mib"), [(700, 1024, 1724), (100, 256, 356)])
def test_memory_limit_leaves_the_request_beside_a_full_dev_shm(request_mib, shm_mib, limit_mib):
    import kubernetes_validate

    from beit_export.triton.kubernetes import manifests

    found = manifests(KubernetesOptions(memory_request_mib=request_mib, shm_size_mib=shm_mib), name="m", memory=None)
    pod = found["kubernetes/deployment.yaml"]["spec"]["template"]["spec"]
    limits = pod["containers"][0]["resources"]["limits"]
    assert limits["memory"] == f"{limit_mib}Mi"
    assert mebibytes(limits["memory"]) >= request_mib + mebibytes(pod["volumes"][0]["emptyDir"]["sizeLimit"])
    kubernetes_validate.validate(found["kubernetes/deployment.yaml"], kubernetes_validate.latest_version(), strict=True)
    assert found["kserve/inferenceservice.yaml"]["spec"]["predictor"]["model"]["resources"]["limits"] == limits


def test_a_small_memory_request_gets_a_limit_above_dev_shm(beit_classifier_artifact, tmp_path):
    # /dev/shm is memory the pod's limit counts: a 64 MiB request used to get a 128 MiB limit
    argv = ["triton", str(beit_classifier_artifact), "--output", str(tmp_path / "repo"), "--model-backend", "python",
            "--no-warmup", "--kubernetes", str(tmp_path / "deploy"), "--memory-request-mib", "64",
            "--max-batch-size", "2"]
    assert beit_export(argv) == 0
    shm = shm_limit_mib(tmp_path / "deploy")  # 2 x 64 MiB x 1.25 + 64 = 224 MiB: the 256 MiB floor
    assert shm == 256
    assert resources(tmp_path / "deploy") == {"requests": {"cpu": "1", "memory": "64Mi"}, "limits": {"memory": "320Mi"}}
    readme = (tmp_path / "deploy" / "README.md").read_text(encoding="utf-8")
    assert "Memory request 64Mi, limit 320Mi" in readme and "or request + 256 MiB when that is more" in readme


@pytest.mark.parametrize(("batch", "instances"), [("8", "1"), ("4", "3")])
def test_dev_shm_holds_the_largest_batches_the_repository_accepts(beit_classifier_artifact, tmp_path, batch,
                                                                    instances):
    """Not measured (--memory-request-mib): /dev/shm still holds max batch x instances images of 64 MiB (each
    python model instance's region grows to the largest batch it held; 8 concurrent 63 MiB PNGs grew the preprocess
    stub's to 321 MiB, over the 256 MiB /dev/shm these manifests had), and the limit leaves the request beside it."""
    import kubernetes_validate

    argv = ["triton", str(beit_classifier_artifact), "--output", str(tmp_path / "repo"), "--model-backend", "python",
            "--no-warmup", "--kubernetes", str(tmp_path / "deploy"), "--memory-request-mib", "512",
            "--max-batch-size", batch, "--instances", instances]
    assert beit_export(argv) == 0
    shm = shm_limit_mib(tmp_path / "deploy")
    needed = int(batch) * int(instances) * 64
    assert needed * MEMORY_HEADROOM + 64 <= shm < needed * MEMORY_HEADROOM + 64 + 16
    assert mebibytes(resources(tmp_path / "deploy")["limits"]["memory"]) == 512 + shm
    found = documents(tmp_path / "deploy")
    annotation = found["kubernetes/deployment.yaml"]["metadata"]["annotations"]["beit-deploy.io/shm-size"]
    assert annotation.startswith(f"{shm}Mi, the largest of") and f"{instances} (instances) x {batch} (max batch)" in (
        annotation)
    assert found["kserve/inferenceservice.yaml"]["metadata"]["annotations"]["beit-deploy.io/shm-size"] == annotation
    runtime_volumes = found["kserve/servingruntime.yaml"]["spec"]["volumes"]
    assert runtime_volumes[0]["emptyDir"]["sizeLimit"] == f"{shm}Mi"
    readme = (tmp_path / "deploy" / "README.md").read_text(encoding="utf-8")
    assert f"/dev/shm is a {shm} MiB memory volume" in readme and annotation in readme
    assert f"docker run --rm --shm-size={shm}m" in readme
    for document in found.values():
        if document["kind"] in ("Deployment", "Service", "HorizontalPodAutoscaler"):
            kubernetes_validate.validate(document, kubernetes_validate.latest_version(), strict=True)


def test_dev_shm_of_a_segmenter_holds_its_answers_at_the_image_size(segmenter_folder):
    """A segmentation answer is INT32 class ids at the image's own size: the postprocess stub's region holds a batch
    of them beside the preprocess stub's batch of encoded images."""
    record = json.loads((segmenter_folder / "models" / "repository.json").read_text(encoding="utf-8"))
    options = record["options"]
    per_image = 64 * 2**20 + 4 * options["max_image_pixels"]
    needed = options["max_batch_size"] * options["instances"] * per_image / 2**20
    assert needed * MEMORY_HEADROOM + 64 <= shm_limit_mib(segmenter_folder) < needed * MEMORY_HEADROOM + 64 + 16
    annotation = documents(segmenter_folder)["kubernetes/deployment.yaml"]["metadata"]["annotations"][
        "beit-deploy.io/shm-size"]
    assert f"MiB of outputs at the image's size of {options['max_image_pixels']:,} pixels" in annotation


def shm_limit_mib(folder) -> int:
    volumes = documents(folder)["kubernetes/deployment.yaml"]["spec"]["template"]["spec"]["volumes"]
    return mebibytes(next(volume for volume in volumes if volume["name"] == "dshm")["emptyDir"]["sizeLimit"])


def test_memory_is_measured_at_the_largest_image_the_server_accepts(classifier_folder):
    """The default --max-image-pixels 25,000,000: 4 at a time (the batch size) of a 5773x4330 PNG of 64 MiB."""
    measured = documents(classifier_folder)["kubernetes/deployment.yaml"]["metadata"]["annotations"][
        "beit-deploy.io/memory-measured"]
    assert "of /dev/shm after 12 requests of one 5773x4330 PNG of 64 MiB (the largest accepted)" in measured
    shm = float(re.search(r"and ([0-9]+) MiB of /dev/shm", measured).group(1))
    assert shm_limit_mib(classifier_folder) >= max(256, shm * MEMORY_HEADROOM - 1)
    request = mebibytes(resources(classifier_folder)["requests"]["memory"])
    assert mebibytes(resources(classifier_folder)["limits"]["memory"]) >= request + shm_limit_mib(classifier_folder)


def test_the_written_limit_grows_with_max_image_pixels(classifier_folder, beit_classifier_artifact, tmp_path):
    """A repository that accepts 1 Mpx images measures (and asks for) far less than one that accepts 25 Mpx."""
    argv = ["triton", str(beit_classifier_artifact), "--output", str(tmp_path / "repo"), "--kubernetes",
            str(tmp_path / "deploy"), *CLASSIFIER_OPTIONS, "--max-image-pixels", "1000000"]
    assert beit_export(argv) == 0
    peaks = [float(documents(folder)["kubernetes/deployment.yaml"]["metadata"]["annotations"][PEAK])
             for folder in (tmp_path / "deploy", classifier_folder)]
    assert peaks[1] - peaks[0] > 4 * 75, peaks  # at least the 4 decoded 25 Mpx RGB images held at once
    limits = [mebibytes(resources(folder)["limits"]["memory"]) for folder in (tmp_path / "deploy", classifier_folder)]
    assert limits[0] < limits[1], limits
    assert "1154x866 PNG of 64 MiB" in (tmp_path / "deploy" / "README.md").read_text(encoding="utf-8")


def test_max_image_pixels_must_be_positive(beit_classifier_artifact, tmp_path, capsys):
    code = beit_export(["triton", str(beit_classifier_artifact), "--output", str(tmp_path / "repo"),
                        "--max-image-pixels", "0"])
    assert code == 2 and "--max-image-pixels must be an integer >= 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "repo").exists()
