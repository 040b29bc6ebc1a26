"""``write_kubernetes``: a repository -> a docker build context with the manifests, staged and renamed.

Layout of DIR::

    Dockerfile, .dockerignore, requirements.txt    the image (``dockerfile``)
    models/                                        the repository (hard-linked when on one filesystem)
    beit_runtime/, bin/beit-serve                  what runs beit-serve in the image
    docker/install_stub.py                         the python 3.11 stub of Triton 2.51.0, put in place at build
    kubernetes/deployment.yaml, service.yaml, hpa.yaml
    kserve/servingruntime.yaml, inferenceservice.yaml
    README.md                                      build, push, apply, verify; how memory and /dev/shm were sized

Written into a hidden folder beside DIR (``beit_export.artifact.staged_artifact``) and renamed when
complete: a failure leaves no partial DIR, an existing DIR is replaced only with ``overwrite``. PyYAML (the
export extra) is imported when the manifests are written (``require_yaml``), so the rest of the package, and
``beit-export triton`` without ``--kubernetes``, runs without it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from beit_runtime import serving_protocol as protocol
from beit_runtime.errors import BackendUnavailableError, missing_extra

from ... import __version__
from ...artifact import OutputExistsError, check_output, staged_artifact
from ...errors import OutputPathError
from ..options import TritonRepositoryOptions
from ..repository import write_repository
from ..vendoring import vendor_runtime
from . import dockerfile as image
from .kserve import inference_service, serving_runtime
from .manifests import autoscaler, deployment, memory_annotations, service
from .memory import MemoryMeasurement, measure_peak
from .options import (
    KubernetesFolderError,
    KubernetesOptions,
    KubernetesOptionsError,
    check_gpus,
    kubernetes_name,
    memory_request_mib,
)
from .readme import deploy_readme
from .shm import ShmSize, shm_size

MEASURE_QUEUE_DELAY_US = 5_000_000
MANIFEST_FILES = {"kubernetes/deployment.yaml": "Deployment", "kubernetes/service.yaml": "Service",
                  "kubernetes/hpa.yaml": "HorizontalPodAutoscaler",
                  "kserve/servingruntime.yaml": "ServingRuntime", "kserve/inferenceservice.yaml": "InferenceService"}


def require_yaml() -> Any:
    """The yaml module (PyYAML); BackendUnavailableError naming the extra that installs it when it is missing."""
    try:
        import yaml
    except ModuleNotFoundError as error:
        raise BackendUnavailableError(missing_extra("PyYAML", "export", needed_by="--kubernetes (its manifests)")
                                      ) from error
    return yaml


@lru_cache(maxsize=1)
def _dumper() -> Any:
    """A SafeDumper writing plain YAML: a value used twice (the annotations, a probe's httpGet) is written twice,
    not aliased."""
    yaml = require_yaml()

    class PlainDumper(yaml.SafeDumper):  # type: ignore[misc,name-defined]
        def ignore_aliases(self, data: object) -> bool:
            return True

    return PlainDumper


def to_yaml(document: dict[str, Any]) -> str:
    return str(require_yaml().dump(document, Dumper=_dumper(), sort_keys=False))


def read_record(repository: Path) -> dict[str, Any]:
    return dict(json.loads((Path(repository) / protocol.REPOSITORY_RECORD).read_text(encoding="utf-8")))


def measure(artifact: Path, repository: Path, *, options: TritonRepositoryOptions,
            ready_timeout_s: float = 300.0) -> MemoryMeasurement:
    """Measure ``repository``'s memory through a python-backend copy of it (same artifact, precision, batch size,
    instances and image limit) whose batchers wait up to ``MEASURE_QUEUE_DELAY_US`` for full batches, so the
    largest requests are measured ``max_batch_size`` at a time in every model."""
    python = dataclasses.replace(options, model_backend="python", kind="cpu", max_queue_delay_us=MEASURE_QUEUE_DELAY_US,
                                 preferred_batch_sizes=(options.max_batch_size,), execution_env=None)
    with tempfile.TemporaryDirectory(prefix="beit-measure-") as folder:
        copy = write_repository(artifact, Path(folder) / "repository", options=python)
        return measure_peak(copy, ready_timeout_s=ready_timeout_s)


def manifests(options: KubernetesOptions, *, name: str, memory: MemoryMeasurement | None,
              shm: ShmSize | None = None) -> dict[str, dict[str, Any]]:
    """{path in DIR: manifest} for every manifest (the memory request from ``memory`` or the options; /dev/shm of
    ``shm``, else of the options)."""
    if shm is not None:
        options = dataclasses.replace(options, shm_size_mib=shm.mib)
    if options.memory_request_mib is not None:
        request = options.memory_request_mib
    elif memory is not None:
        request = memory_request_mib(memory.peak_mib)
    else:
        raise KubernetesOptionsError("no memory measurement and no --memory-request-mib: give one of them")
    measured = None if options.memory_request_mib is not None else memory
    shm_how = shm.how if shm is not None else None
    annotations = memory_annotations(measured, request, shm_how=shm_how)
    return {
        "kubernetes/deployment.yaml": deployment(options, name=name, request_mib=request, annotations=annotations),
        "kubernetes/service.yaml": service(options, name=name),
        "kubernetes/hpa.yaml": autoscaler(options, name=name),
        "kserve/servingruntime.yaml": serving_runtime(options, name=name, request_mib=request),
        "kserve/inferenceservice.yaml": inference_service(options, name=name, request_mib=request, memory=measured,
                                                          shm_how=shm_how),
    }


def check_folders(repository: str | Path, output: str | Path, *, overwrite: bool,
                  artifact: str | Path | None = None) -> None:
    """KubernetesFolderError unless DIR (``output``) can be written for ``repository``: apart from it (neither
    holds the other), and what ``check_output`` asks of an output folder (not a file, empty or ``overwrite``,
    then not holding ``artifact``; in a folder that can be written)."""
    repo, folder = Path(repository).expanduser().resolve(), Path(output).expanduser().resolve()
    _check_apart(repo, folder)
    try:
        check_output(folder, overwrite=overwrite, inputs={"ARTIFACT": artifact}, flag="--kubernetes")
    except (OutputExistsError, OutputPathError) as error:
        raise KubernetesFolderError(str(error)) from None


def _holds(outer: Path, inner: Path) -> bool:
    return outer == inner or outer in inner.parents


def _check_apart(repo: Path, folder: Path) -> None:
    """KubernetesFolderError when the repository and DIR are one folder or one holds the other."""
    if folder == repo:
        raise KubernetesFolderError(f"--kubernetes and --output name the same folder ({folder}); give the build "
                                    "context its own (it gets a copy of the repository in models/)")
    if _holds(repo, folder):
        raise KubernetesFolderError(f"--kubernetes {folder} lies inside --output {repo}, and it gets a copy of that "
                                    "repository: name a folder outside --output (e.g. beside it)")
    if _holds(folder, repo):
        raise KubernetesFolderError(f"--output {repo} lies inside --kubernetes {folder}, which is replaced by the "
                                    "build context: name two separate folders (the build context gets its own copy "
                                    "of the repository in models/)")


def write_kubernetes(repository: str | Path, output: str | Path, *, options: KubernetesOptions,
                     memory: MemoryMeasurement | None = None, overwrite: bool = False) -> Path:
    """Write DIR (see the module docstring) for ``repository``; returns DIR (absolute)."""
    require_yaml()
    repository = Path(repository).expanduser().absolute()
    record = read_record(repository)
    check_folders(repository, output, overwrite=overwrite, artifact=record["artifact"]["folder"])
    name = options.app_name or kubernetes_name(record["name"])
    check_gpus(options, kind=record["options"].get("kind", "cpu"))
    if options.gpus is None:
        options = dataclasses.replace(options, gpus=1 if record["options"].get("kind") == "gpu" else 0)
    shm = shm_size(options, record=record, memory=memory)
    options = dataclasses.replace(options, shm_size_mib=shm.mib)
    documents = manifests(options, name=name, memory=memory, shm=shm)
    with staged_artifact(Path(output), overwrite=overwrite, flag="--kubernetes") as stage:
        shutil.copytree(repository, stage / "models", copy_function=_link_or_copy)
        vendor_runtime(stage)
        files = {
            "Dockerfile": image.dockerfile(options, name=record["name"], version=__version__),
            ".dockerignore": image.DOCKERIGNORE, "requirements.txt": image.requirements(record),
            "docker/install_stub.py": image.INSTALL_STUB, "bin/beit-serve": image.BEIT_SERVE_SCRIPT,
            "README.md": deploy_readme(options, name=name, record=record, memory=memory, documents=documents),
        }
        files.update({path: to_yaml(document) for path, document in documents.items()})
        for path, text in files.items():
            (stage / path).parent.mkdir(parents=True, exist_ok=True)
            (stage / path).write_text(text, encoding="utf-8")
        (stage / "bin" / "beit-serve").chmod(0o755)
    return Path(output).expanduser().absolute()


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
