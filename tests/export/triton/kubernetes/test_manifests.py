"""Every manifest validates offline (core kinds: kubernetes-validate's bundled schemas, strict; KServe kinds:
KServe's CRD schema, trimmed, in kserve_schemas.json), and the probes, grace periods, ports and
resources agree across the Deployment, the Service, the HPA and KServe's ServingRuntime/InferenceService."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest

from beit_export.triton.kubernetes import MANIFEST_FILES
from beit_export.triton.kubernetes.options import CHECK_TIMEOUT_S, GRACE_MARGIN_S

from .conftest import documents

KUBERNETES_VERSIONS = ("1.29", kubernetes_validate.latest_version())  # oldest checked, newest bundled
KSERVE = json.loads(Path(__file__).with_name("kserve_schemas.json").read_text(encoding="utf-8"))
CORE_KINDS = ("Deployment", "Service", "HorizontalPodAutoscaler")


def kserve_errors(document: dict) -> list[str]:
    entry = KSERVE[document["kind"]]
    assert document["apiVersion"] == entry["apiVersion"]
    validator = jsonschema.Draft7Validator(entry["schema"])
    return [f"{'.'.join(map(str, error.path))}: {error.message}" for error in validator.iter_errors(document)]


def test_the_folder_holds_every_manifest_once(folder):
    found = documents(folder)
    assert {path: document["kind"] for path, document in found.items()} == MANIFEST_FILES


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_core_manifests_validate_strictly(folder, version):
    for document in documents(folder).values():
        if document["kind"] in CORE_KINDS:
            kubernetes_validate.validate(document, version, strict=True)


def test_core_validation_can_fail(classifier_folder):
    deployment = copy.deepcopy(documents(classifier_folder)["kubernetes/deployment.yaml"])
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["periodSecond"] = 10  # misspelt
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)


def test_kserve_manifests_match_the_crd_schema(folder):
    for path, document in documents(folder).items():
        if path.startswith("kserve/"):
            assert kserve_errors(document) == [], path


def test_kserve_check_catches_unknown_fields_and_bad_values(classifier_folder):
    service = copy.deepcopy(documents(classifier_folder)["kserve/inferenceservice.yaml"])
    service["spec"]["predictor"]["model"]["protocolVersions"] = "v2"  # not a field of ModelSpec
    service["spec"]["predictor"]["scaleMetric"] = "gpu"  # not in the enum
    errors = kserve_errors(service)
    assert any("protocolVersions" in error for error in errors) and any("gpu" in error for error in errors)


def test_kserve_uses_the_v2_protocol_on_its_own_triton_runtime(folder):
    found = documents(folder)
    runtime, service = found["kserve/servingruntime.yaml"], found["kserve/inferenceservice.yaml"]
    model = service["spec"]["predictor"]["model"]
    assert model["modelFormat"]["name"] == "triton" and model["protocolVersion"] == "v2"
    assert model["runtime"] == runtime["metadata"]["name"]
    assert {"name": "triton", "version": "2", "autoSelect": False} in runtime["spec"]["supportedModelFormats"]
    assert "v2" in runtime["spec"]["protocolVersions"]
    assert service["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "RawDeployment"
    assert "storageUri" not in model  # the repository is in the image


def test_probes_grace_and_ports_agree(folder):
    found = documents(folder)
    deployment = found["kubernetes/deployment.yaml"]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    args = container["args"]
    grace = int(args[args.index("--grace-period") + 1])
    stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", ["sleep", "0"])
    assert pod["terminationGracePeriodSeconds"] == int(stop[1]) + grace + GRACE_MARGIN_S
    http = int(args[args.index("--http-port") + 1])
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": http, "grpc": int(args[args.index("--grpc-port") + 1]),
                     "metrics": int(args[args.index("--metrics-port") + 1])}
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    check = ["--check", f"http://127.0.0.1:{http}", "--check-timeout", str(CHECK_TIMEOUT_S)]
    startup, liveness = container["startupProbe"], container["livenessProbe"]
    assert startup["exec"]["command"][1:] == check  # one real inference per ensemble
    ready_timeout = int(args[args.index("--ready-timeout") + 1])
    assert startup["periodSeconds"] * startup["failureThreshold"] >= ready_timeout
    assert liveness["exec"]["command"][1:] == [*check, "--check-live"]  # no inference: a busy pod is not restarted
    for probe in (startup, liveness):
        assert probe["timeoutSeconds"] > CHECK_TIMEOUT_S
    service = found["kubernetes/service.yaml"]
    assert {port["name"]: (port["port"], port["targetPort"]) for port in service["spec"]["ports"]} == {
        name: (number, name) for name, number in ports.items()}
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["metadata"]["annotations"]["prometheus.io/port"] == str(ports["metrics"])


def test_kserve_runs_the_same_container_and_stop_budget(folder):
    found = documents(folder)
    pod = found["kubernetes/deployment.yaml"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    runtime = found["kserve/servingruntime.yaml"]["spec"]
    predictor = found["kserve/inferenceservice.yaml"]["spec"]["predictor"]
    kserve_container = runtime["containers"][0]
    assert kserve_container["name"] == "kserve-container"
    for field in ("image", "command", "args", "startupProbe", "readinessProbe", "livenessProbe", "volumeMounts"):
        assert kserve_container[field] == container[field], field
    assert kserve_container.get("lifecycle") == container.get("lifecycle")
    assert kserve_container["ports"] == [port for port in container["ports"] if port["name"] == "http"]
    assert predictor["terminationGracePeriodSeconds"] == pod["terminationGracePeriodSeconds"]
    assert predictor["model"]["resources"] == container["resources"]
    assert runtime["volumes"] == pod["volumes"]


def test_autoscaler_targets_the_deployment_on_cpu(classifier_folder):
    found = documents(classifier_folder)
    hpa, deployment = found["kubernetes/hpa.yaml"], found["kubernetes/deployment.yaml"]
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": deployment["metadata"]["name"]}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 5) == (
        deployment["spec"]["replicas"], found["kserve/inferenceservice.yaml"]["spec"]["predictor"]["maxReplicas"])
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert "cpu" in deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]


def test_names_and_namespace(segmenter_folder):
    for document in documents(segmenter_folder).values():
        assert document["metadata"]["namespace"] == "ml"
        assert document["metadata"]["name"] in ("segmenter", "segmenter-runtime")
