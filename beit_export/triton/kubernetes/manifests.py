"""The manifests as data: Deployment, Service, HorizontalPodAutoscaler, and KServe's ServingRuntime +
InferenceService, all running the image of ``dockerfile`` with the same container (``container``).

KServe: an ``InferenceService`` whose predictor names ``modelFormat: triton``, ``protocolVersion: v2``
and ``runtime:`` a ``ServingRuntime`` written here, whose container is this image running ``beit-serve``
(not KServe's stock ``kserve-tritonserver`` runtime, which runs ``tritonserver`` itself: no drain on
SIGTERM, no reload of a dead python stub, and the repository fetched by a storage initializer instead of
baked into the image). ``serving.kserve.io/deploymentMode: RawDeployment``: KServe makes a plain
Deployment, Service and HPA, so the probes, the preStop sleep and terminationGracePeriodSeconds act as in
``kubernetes/`` (the serverless mode's queue-proxy would answer probes and hold requests on its own).
"""

from __future__ import annotations

from typing import Any

from . import dockerfile as image
from .memory import MemoryMeasurement
from .options import CHECK_TIMEOUT_S, GRPC_PORT, HTTP_PORT, METRICS_PORT, KubernetesOptions, memory_limit_mib

Manifest = dict[str, Any]
READY_PATH = "/v2/health/ready"
PROBE_PERIOD_S = 5
LIVENESS_PERIOD_S = 10
ANNOTATION = "beit-deploy.io"
SHM_VOLUME = "dshm"


def labels(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/component": "triton",
            "app.kubernetes.io/part-of": "beit-deploy"}


def metadata(name: str, options: KubernetesOptions, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels(name), **extra}
    if options.namespace:
        meta["namespace"] = options.namespace
    return meta


def memory_annotations(memory: MemoryMeasurement | None, request_mib: int, *,
                       shm_how: str | None = None) -> dict[str, str]:
    """How the memory request (and /dev/shm: ``shm.SHM_RULE`` with its numbers) was chosen, on the Deployment
    (and the InferenceService)."""
    if memory is None:
        found = {f"{ANNOTATION}/memory-request": f"{request_mib}Mi, given with --memory-request-mib"}
    else:
        found = {f"{ANNOTATION}/memory-peak-mib": f"{memory.peak_mib:.1f}",
                 f"{ANNOTATION}/memory-measured": memory.describe()}
    if shm_how:
        found[f"{ANNOTATION}/shm-size"] = shm_how
    return found


def probes(options: KubernetesOptions) -> dict[str, Any]:
    """Startup: one real inference per ensemble (the models answer); readiness: Triton's ready endpoint (false
    as soon as a stop begins); liveness: live and every model READY, no inference (a busy pod passes)."""
    ready = {"httpGet": {"path": READY_PATH, "port": "http"}}
    check = [image.BEIT_SERVE, "--check", f"http://127.0.0.1:{HTTP_PORT}", "--check-timeout", str(CHECK_TIMEOUT_S)]
    timeout = options.check_probe_timeout_s
    return {
        "startupProbe": {"exec": {"command": check}, "periodSeconds": PROBE_PERIOD_S, "timeoutSeconds": timeout,
                         "failureThreshold": -(-options.ready_timeout_s // PROBE_PERIOD_S) + 1},
        "readinessProbe": {**ready, "periodSeconds": PROBE_PERIOD_S, "timeoutSeconds": 2, "failureThreshold": 2},
        "livenessProbe": {"exec": {"command": [*check, "--check-live"]}, "periodSeconds": LIVENESS_PERIOD_S,
                          "timeoutSeconds": timeout, "failureThreshold": 3},
    }


def container(options: KubernetesOptions, *, name: str, request_mib: int) -> dict[str, Any]:
    """The serving container: beit-serve on the baked-in repository, probes, preStop sleep, resources."""
    spec: dict[str, Any] = {
        "name": name, "image": options.image, "imagePullPolicy": "IfNotPresent",
        "command": image.entrypoint(), "args": image.serve_arguments(options),
        "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
                  {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"},
                  {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
        **probes(options),
        "resources": {"requests": {"cpu": options.cpu_request, "memory": f"{request_mib}Mi"},
                      "limits": {"memory": f"{memory_limit_mib(request_mib, shm_mib=options.shm_size_mib)}Mi"}},
        "volumeMounts": [{"name": SHM_VOLUME, "mountPath": "/dev/shm"}],
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    if options.gpus:
        spec["resources"]["limits"]["nvidia.com/gpu"] = options.gpus
    if options.prestop_sleep_s:
        spec["lifecycle"] = {"preStop": {"exec": {"command": ["sleep", str(options.prestop_sleep_s)]}}}
    return spec


def pod_spec(options: KubernetesOptions, *, name: str, request_mib: int) -> dict[str, Any]:
    return {
        "terminationGracePeriodSeconds": options.termination_grace_period_s,
        "securityContext": {"runAsNonRoot": True, "runAsUser": image.USER_ID, "runAsGroup": image.USER_ID},
        "containers": [container(options, name="triton", request_mib=request_mib)],
        "volumes": [shm_volume(options)],
    }


def shm_volume(options: KubernetesOptions) -> dict[str, Any]:
    """/dev/shm for the python backend's tensors (sized by ``shm.shm_size``; counts against the memory limit)."""
    return {"name": SHM_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": f"{options.shm_size_mib}Mi"}}


def deployment(options: KubernetesOptions, *, name: str, request_mib: int, annotations: dict[str, str]) -> Manifest:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata(name, options, annotations=annotations),
        "spec": {
            "replicas": options.replicas, "selector": {"matchLabels": labels(name)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {"metadata": {"labels": labels(name), "annotations": annotations},
                         "spec": pod_spec(options, name=name, request_mib=request_mib)},
        },
    }


def service(options: KubernetesOptions, *, name: str) -> Manifest:
    scrape = {"prometheus.io/scrape": "true", "prometheus.io/port": str(METRICS_PORT), "prometheus.io/path": "/metrics"}
    ports = [{"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP", "appProtocol": "http"},
             {"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc", "protocol": "TCP",
              "appProtocol": "kubernetes.io/h2c"},
             {"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics", "protocol": "TCP",
              "appProtocol": "http"}]
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata(name, options, annotations=scrape),
            "spec": {"type": "ClusterIP", "selector": labels(name), "ports": ports}}


def autoscaler(options: KubernetesOptions, *, name: str) -> Manifest:
    return {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": metadata(name, options),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": options.replicas, "maxReplicas": options.max_replicas,
            "metrics": [{"type": "Resource", "resource": {
                "name": "cpu", "target": {"type": "Utilization", "averageUtilization": options.cpu_target_percent}}}],
        },
    }
