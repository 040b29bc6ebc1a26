"""DIR/README.md: from this folder to a running service (build, push, apply, verify), how a rollout stops
pods cleanly and how the memory request was sized."""

from __future__ import annotations

from typing import Any

from . import dockerfile as image
from .manifests import ANNOTATION
from .memory import MemoryMeasurement
from .options import (
    GRACE_MARGIN_S,
    GRPC_PORT,
    HTTP_PORT,
    MEMORY_HEADROOM,
    MEMORY_LIMIT_FACTOR,
    METRICS_PORT,
    TRITON_RELEASE,
    KubernetesOptions,
)
from .shm import SHM_RULE


def _memory_section(options: KubernetesOptions, memory: MemoryMeasurement | None,
                    resources: dict[str, Any], *, shm_how: str | None) -> str:
    requests, limits = resources["requests"], resources["limits"]
    if options.memory_request_mib is not None or memory is None:
        how = "given with `--memory-request-mib` (not measured)."
    else:
        parts = ", ".join(f"{process} {mib:.0f} MiB" for process, mib in memory.processes.items())
        how = (f"measured: {memory.describe()}.\nPer process: {parts}.\n"
               f"request = peak x {MEMORY_HEADROOM} (rounded up to 16 MiB).")
    return (f"Memory request {requests['memory']}, limit {limits['memory']}; {how}\n"
            f"/dev/shm is a {options.shm_size_mib} MiB memory volume for the python backend's tensors (each python "
            f"model instance's region grows to the largest batch it held), by the rule: the {SHM_RULE}"
            f"{f'. Here {shm_how} (annotation `{ANNOTATION}/shm-size`)' if shm_how else ''}.\n"
            f"/dev/shm counts against the memory limit, so limit = request x {MEMORY_LIMIT_FACTOR}, or request + "
            f"{options.shm_size_mib} MiB when that is more.\n"
            f"CPU request {requests['cpu']} (the autoscaler's utilization is relative to it), no CPU limit.\n")


def _published_ports() -> str:
    return " ".join(f"-p {port}:{port}" for port in (HTTP_PORT, GRPC_PORT, METRICS_PORT))


def _commands_section(options: KubernetesOptions, *, name: str, record: dict[str, Any]) -> str:
    namespace = f" -n {options.namespace}" if options.namespace else ""
    return f"""## Build and push

```bash
docker build -t {options.image} .
docker push {options.image}
```

To try the image on one machine first (the same command and ports as the pods; Ctrl-C stops it cleanly):

```bash
docker run --rm --shm-size={options.shm_size_mib}m {_published_ports()} {options.image}
```

## Apply (plain Kubernetes)

```bash
kubectl apply{namespace} -f kubernetes/
kubectl rollout status{namespace} deployment/{name}
```

## Apply (KServe, v2 protocol)

```bash
kubectl apply{namespace} -f kserve/servingruntime.yaml -f kserve/inferenceservice.yaml
kubectl get inferenceservice{namespace} {name}
```

## Verify

```bash
kubectl port-forward{namespace} service/{name} {HTTP_PORT}:{HTTP_PORT} &
curl -fsS localhost:{HTTP_PORT}/v2/health/ready && echo ready
curl -fsS localhost:{HTTP_PORT}/v2/models/{record['name']}
```

then call it with `beit_runtime.remote` (`RemoteClassifier("127.0.0.1:{HTTP_PORT}", "{record['name']}")` and
the like) or any v2 client.
"""


def _probes_section(options: KubernetesOptions, container: dict[str, Any]) -> str:
    startup, liveness = container["startupProbe"], container["livenessProbe"]
    return f"""## Probes and stops

- startup: `{' '.join(startup['exec']['command'])}` every {startup['periodSeconds']} s, up to
  {options.ready_timeout_s} s for the models to load (`beit-serve --ready-timeout`): one real inference per
  ensemble, so the pod counts as started once its models answer an image.
- readiness: `GET /v2/health/ready` (false as soon as a stop begins).
- liveness: `{' '.join(liveness['exec']['command'])}` every {liveness['periodSeconds']} s: the server is live
  and every model READY, without an inference, so a pod busy with long requests is not restarted.
- A rollout or scale-down deletes a pod: the preStop hook sleeps {options.prestop_sleep_s} s (the pod
  still answers while Services and ingresses drop it), then `beit-serve` gets SIGTERM, unloads the models
  (readiness false), lets requests in flight finish and stops Triton within `--grace-period
  {options.grace_period_s}`. `terminationGracePeriodSeconds` is {options.termination_grace_period_s} =
  {options.prestop_sleep_s} (preStop) + {options.grace_period_s} (grace) + {GRACE_MARGIN_S} (exit margin).
"""


def deploy_readme(options: KubernetesOptions, *, name: str, record: dict[str, Any],
                  memory: MemoryMeasurement | None, documents: dict[str, dict[str, Any]]) -> str:
    """The README of the --kubernetes folder."""
    deployment = documents["kubernetes/deployment.yaml"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    annotations = deployment["metadata"]["annotations"]
    return f"""# Deploy {record['name']} on Kubernetes

Written by `beit-export triton --kubernetes` from the repository in `models/` ({record['task']}, model
`{record['name']}`). This folder is the docker build context: the image is NGC's Triton
{TRITON_RELEASE} (`{options.base_image}`, Triton 2.51.0) with the repository, beit_runtime (for
`beit-serve`) and a python 3.11 venv with `requirements.txt` for the python models.

{_commands_section(options, name=name, record=record)}
{_probes_section(options, container)}
## Resources

{_memory_section(options, memory, container['resources'], shm_how=annotations.get(f"{ANNOTATION}/shm-size"))}
Entry point: `{' '.join(image.entrypoint())} {' '.join(image.serve_arguments(options))}`.
"""
