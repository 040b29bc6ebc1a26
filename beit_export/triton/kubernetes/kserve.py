"""KServe: a ``ServingRuntime`` running this image's ``beit-serve`` and an ``InferenceService`` using it.

Why an own runtime rather than KServe's stock ``kserve-tritonserver``: that one runs ``tritonserver``
directly (no drain on SIGTERM, no reload of a python stub the OOM killer took) on a repository a storage
initializer downloads; here the repository is baked into the image, so the predictor has no
``storageUri``. ``serving.kserve.io/deploymentMode: RawDeployment``: KServe creates a plain Deployment,
Service and HPA (CPU), so the probes, the preStop sleep and ``terminationGracePeriodSeconds`` act as in
``kubernetes/`` (in the serverless mode Knative's queue-proxy sits in front and answers the probes).
The predictor speaks the v2 (Open Inference) protocol over HTTP on port 8000, which is Triton's own.
"""

from __future__ import annotations

from typing import Any

from .manifests import Manifest, memory_annotations, metadata, pod_spec
from .memory import MemoryMeasurement
from .options import METRICS_PORT, KubernetesOptions

MODEL_FORMAT = {"name": "triton", "version": "2"}
KSERVE_CONTAINER = "kserve-container"  # the container name KServe merges the predictor's model spec into


def runtime_name(name: str) -> str:
    return f"{name}-runtime"[:63]


def serving_runtime(options: KubernetesOptions, *, name: str, request_mib: int) -> Manifest:
    pod = pod_spec(options, name=name, request_mib=request_mib)
    runtime_container = {**pod["containers"][0], "name": KSERVE_CONTAINER}
    runtime_container["ports"] = [port for port in runtime_container["ports"] if port["name"] == "http"]
    runtime_container.pop("resources")  # the InferenceService's model spec carries them
    return {
        "apiVersion": "serving.kserve.io/v1alpha1", "kind": "ServingRuntime",
        "metadata": metadata(runtime_name(name), options),
        "spec": {
            "supportedModelFormats": [{**MODEL_FORMAT, "autoSelect": False}],
            "protocolVersions": ["v2", "grpc-v2"], "multiModel": False,
            "annotations": {"prometheus.kserve.io/port": str(METRICS_PORT), "prometheus.kserve.io/path": "/metrics"},
            "containers": [runtime_container], "volumes": pod["volumes"],
        },
    }


def inference_service(options: KubernetesOptions, *, name: str, request_mib: int,
                      memory: MemoryMeasurement | None, shm_how: str | None = None) -> Manifest:
    pod = pod_spec(options, name=name, request_mib=request_mib)
    annotations = {"serving.kserve.io/deploymentMode": "RawDeployment", "serving.kserve.io/autoscalerClass": "hpa",
                   **memory_annotations(memory, request_mib, shm_how=shm_how)}
    predictor: dict[str, Any] = {
        "minReplicas": options.replicas, "maxReplicas": options.max_replicas,
        "scaleMetric": "cpu", "scaleTarget": options.cpu_target_percent,
        "terminationGracePeriodSeconds": pod["terminationGracePeriodSeconds"],
        "securityContext": pod["securityContext"],
        "model": {"modelFormat": dict(MODEL_FORMAT), "runtime": runtime_name(name), "protocolVersion": "v2",
                  "resources": pod["containers"][0]["resources"]},
    }
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": metadata(name, options, annotations=annotations), "spec": {"predictor": predictor}}
