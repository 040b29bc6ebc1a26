"""Kubernetes deployment of a Triton repository (``beit-export triton ... --kubernetes DIR``).

``options`` (``KubernetesOptions``: image, probes' and stops' time budget, replicas, resources),
``memory`` (the peak measured on the local Triton), ``shm`` (the pods' /dev/shm, from what the repository
accepts), ``dockerfile`` (the image), ``manifests`` (Deployment,
Service, HPA), ``kserve`` (ServingRuntime, InferenceService), ``readme`` and ``writer`` (DIR, staged).
"""

from __future__ import annotations

from .memory import MemoryMeasurement, MemoryMeasurementError, measure_peak, require_local_server
from .options import (
    KubernetesFolderError,
    KubernetesOptions,
    KubernetesOptionsError,
    check_gpus,
    kubernetes_name,
    memory_request_mib,
)
from .writer import MANIFEST_FILES, check_folders, manifests, measure, require_yaml, write_kubernetes

__all__ = ["MANIFEST_FILES", "KubernetesFolderError", "KubernetesOptions", "KubernetesOptionsError",
           "MemoryMeasurement", "MemoryMeasurementError", "check_folders", "check_gpus", "kubernetes_name",
           "manifests", "measure", "measure_peak", "memory_request_mib", "require_local_server", "require_yaml",
           "write_kubernetes"]
