"""``KubernetesOptions``: every choice ``beit-export triton --kubernetes DIR`` makes, validated when made.

Time budget of a stop (Kubernetes counts ``terminationGracePeriodSeconds`` from the moment the pod is
deleted, preStop hook included): ``prestop_sleep_s`` (the server keeps answering while endpoints,
kube-proxy and ingresses drop the pod), then SIGTERM to ``beit-serve``, which drains and stops within
``grace_period_s`` (its ``--grace-period``), then ``GRACE_MARGIN_S`` for the process to exit and the
container runtime to notice before SIGKILL. So ``termination_grace_period_s`` = sleep + grace + margin.

Probes (``beit-serve --check`` runs inside the container within ``CHECK_TIMEOUT_S``; the probe's timeout
leaves ``CHECK_STARTUP_S`` for the interpreter to start): startup runs the full check, one real inference
per ensemble, and allows ``ready_timeout_s`` for the models to load (beit-serve's ``--ready-timeout``);
readiness is Triton's ``/v2/health/ready`` (false at once when a stop begins); liveness runs ``--check
--check-live``: live and every model READY, no inference, so a pod busy with long requests is not
restarted (the inference check waits in the models' queues: with 32 clients keeping large segmentation
requests in flight it took 2.6-3.6 s, or ran past 5 s, while every request was answered).

Memory: ``memory_request_mib`` None means measured (``memory``, at the largest request the repository accepts:
its ``--max-image-pixels``, 64 MiB encoded, full batches on every instance): request = peak x
``MEMORY_HEADROOM``; /dev/shm = ``shm_size_mib`` raised to what the repository accepts (``shm.SHM_RULE``:
instances x max batch x the bytes of one image, and the measured regions, each x ``MEMORY_HEADROOM``),
measured or not; limit = request x ``MEMORY_LIMIT_FACTOR``, or request + /dev/shm when that is more
(/dev/shm is a memory volume that counts against the limit, so a full one must leave the request:
``memory_limit_mib``).
CPU: a request (the HPA's utilization is relative to it), no
limit (a CPU limit throttles the batcher's threads and adds latency without protecting neighbours more
than the request already does).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from beit_runtime.errors import InputError
from beit_runtime.serving.drain import MIN_GRACE_PERIOD_S

from ..options import TritonOptionsError

TRITON_RELEASE = "24.10"  # NGC release of Triton 2.51.0, the server the repositories are tested with
DEFAULT_BASE_IMAGE = f"nvcr.io/nvidia/tritonserver:{TRITON_RELEASE}-py3"
HTTP_PORT, GRPC_PORT, METRICS_PORT = 8000, 8001, 8002
CHECK_TIMEOUT_S = 5
CHECK_STARTUP_S = 3
GRACE_MARGIN_S = 5
MEMORY_HEADROOM = 1.25
MEMORY_LIMIT_FACTOR = 2.0
MEMORY_ROUND_MIB = 16
_IMAGE = re.compile(r"^[a-z0-9]+([._/:@-][A-Za-z0-9_.-]+)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_CPU = re.compile(r"^([0-9]+m|[0-9]+(\.[0-9]{1,3})?)$")


class KubernetesOptionsError(TritonOptionsError):
    """An option of ``beit-export triton --kubernetes`` cannot be used; the message names the fix."""


class KubernetesFolderError(KubernetesOptionsError, InputError):
    """--kubernetes cannot be written where it names: --output's folder, inside it or around it, a file, or a
    folder that holds something (without --overwrite)."""


def _positive(name: str, value: object, *, low: int = 1, why: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise KubernetesOptionsError(f"{name} must be an integer >= {low}{why}, got {value!r}")


def kubernetes_name(name: str) -> str:
    """A DNS-1123 label from a Triton model name: lower case, '-' for anything else, at most 63 characters."""
    label = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63].strip("-")
    return label or "beit"


def memory_request_mib(peak_mib: float) -> int:
    """The memory request for a measured peak: peak x MEMORY_HEADROOM, rounded up to MEMORY_ROUND_MIB."""
    return int(math.ceil(peak_mib * MEMORY_HEADROOM / MEMORY_ROUND_MIB) * MEMORY_ROUND_MIB)


def shm_size_mib(measured_mib: float) -> int:
    """The /dev/shm size for the measured regions: x MEMORY_HEADROOM, rounded up to MEMORY_ROUND_MIB."""
    return int(math.ceil(measured_mib * MEMORY_HEADROOM / MEMORY_ROUND_MIB) * MEMORY_ROUND_MIB)


def memory_limit_mib(request_mib: int, *, shm_mib: int) -> int:
    """The memory limit for a request: request x MEMORY_LIMIT_FACTOR, raised to request + ``shm_mib`` when that
    is more (the memory-backed /dev/shm counts against the limit: a full one must leave the request)."""
    return max(int(request_mib * MEMORY_LIMIT_FACTOR), request_mib + shm_mib)


def _cpus(quantity: str) -> float:
    """The CPUs a quantity matching ``_CPU`` stands for ("500m": 0.5)."""
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


@dataclass(frozen=True, kw_only=True)
class KubernetesOptions:
    """How the image and the manifests run the repository; ``image`` is what ``docker build -t`` names."""

    image: str = "beit-triton:latest"
    base_image: str = DEFAULT_BASE_IMAGE
    app_name: str | None = None  # Kubernetes name of everything; default: from the model name
    namespace: str | None = None  # None: the one kubectl uses
    grace_period_s: int = 30  # beit-serve --grace-period
    prestop_sleep_s: int = 5
    ready_timeout_s: int = 300  # beit-serve --ready-timeout, and the startup probe's budget
    replicas: int = 1  # also the HPA's minReplicas
    max_replicas: int = 4
    cpu_request: str = "1"
    cpu_target_percent: int = 70
    memory_request_mib: int | None = None  # None: measured on the local server
    shm_size_mib: int = 256  # /dev/shm for the python backend's tensors, at least (raised by ``shm.shm_size``)
    gpus: int | None = None  # nvidia.com/gpu per pod; None: 1 for a repository whose instances run on GPU, else 0

    def __post_init__(self) -> None:
        for field, text in (("--image", self.image), ("--base-image", self.base_image)):
            if not isinstance(text, str) or not _IMAGE.match(text):
                raise KubernetesOptionsError(f"{field} {text!r} is not an image reference such as "
                                             "registry.example.com/team/beit-triton:1.0 (lower-case repository)")
        if self.app_name is not None and not _DNS_LABEL.match(self.app_name):
            raise KubernetesOptionsError(f"--app-name {self.app_name!r} is not a DNS-1123 label: lower-case "
                                         "letters, digits and '-', at most 63, starting and ending alphanumeric")
        if self.namespace is not None and not _DNS_LABEL.match(self.namespace):
            raise KubernetesOptionsError(f"--namespace {self.namespace!r} is not a DNS-1123 label")
        _positive("--grace-period", self.grace_period_s, low=MIN_GRACE_PERIOD_S,
                  why=" (beit-serve's minimum: a shorter one leaves the requests in flight less than 1 s)")
        _positive("--prestop-sleep", self.prestop_sleep_s, low=0)
        _positive("--ready-timeout", self.ready_timeout_s, low=10)
        _positive("--replicas", self.replicas)
        _positive("--max-replicas", self.max_replicas)
        _positive("--cpu-target-percent", self.cpu_target_percent)
        _positive("--shm-size-mib", self.shm_size_mib, low=64)
        if self.max_replicas < self.replicas:
            raise KubernetesOptionsError(f"--max-replicas {self.max_replicas} is below --replicas {self.replicas}; "
                                         "raise --max-replicas (the autoscaler's range is replicas..max-replicas)")
        if not isinstance(self.cpu_request, str) or not _CPU.match(self.cpu_request) or not _cpus(self.cpu_request):
            raise KubernetesOptionsError(f"--cpu-request {self.cpu_request!r} is not a CPU quantity above 0 such as "
                                         "1, 0.5 or 500m")
        if self.gpus is not None:
            _positive("--gpus", self.gpus, low=0)
        if self.memory_request_mib is not None:
            _positive("--memory-request-mib", self.memory_request_mib, low=64)

    @property
    def termination_grace_period_s(self) -> int:
        """The pod's terminationGracePeriodSeconds: preStop sleep + beit-serve's grace period + margin."""
        return self.prestop_sleep_s + self.grace_period_s + GRACE_MARGIN_S

    @property
    def check_probe_timeout_s(self) -> int:
        """timeoutSeconds of the probes that run ``beit-serve --check`` (startup, liveness)."""
        return CHECK_TIMEOUT_S + CHECK_STARTUP_S


def check_gpus(options: KubernetesOptions, *, kind: str) -> None:
    """KubernetesOptionsError when the pods would ask for GPUs that the repository's CPU instances never use."""
    if options.gpus and kind != "gpu":
        raise KubernetesOptionsError(
            f"--gpus {options.gpus} asks each pod for GPUs, but the repository's instances run on the CPU "
            f"(--kind {kind}): add --kind gpu to run them on the GPU, or drop --gpus")
