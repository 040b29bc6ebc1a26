"""The engine x precision variants of an artifact, and loading each one as a task class.

A variant is a (backend, precision) pair a task class accepts: ONNX Runtime runs every graph variant
the artifact has (fp32, fp16, int8); OpenVINO runs fp32 and int8 and, on CPUs with bf16 units, bf16
(the fp32 graph at bf16 inference precision). ``candidate_variants(manifest)`` lists them with fp32 on
ONNX Runtime first: it is the reference the others are compared with. ``open_variant`` builds the task
class, or returns the error saying why it cannot run here (optional backend missing, no bf16 units, parity
refused by the exporter's record), so a report can say why a row is absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..engines import backend_info
from ..errors import BackendUnavailableError, InputError, ManifestError
from ..manifest import Manifest
from ..model_base import task_class

ENGINE_BACKENDS = ("onnxruntime", "openvino")
PRECISION_ORDER = ("fp32", "fp16", "bf16", "int8")


@dataclass(frozen=True)
class Variant:
    backend: str
    precision: str

    @property
    def name(self) -> str:
        return f"{self.backend}-{self.precision}"

    @classmethod
    def parse(cls, text: str) -> Variant:
        """``"onnxruntime-int8"`` -> Variant; InputError naming the form otherwise."""
        backend, _, precision = text.rpartition("-")
        if backend not in ENGINE_BACKENDS or precision not in PRECISION_ORDER:
            raise InputError(
                f"variant {text!r} is not BACKEND-PRECISION with BACKEND in {ENGINE_BACKENDS} and PRECISION in "
                f"{PRECISION_ORDER} (e.g. onnxruntime-int8)"
            )
        return cls(backend, precision)


REFERENCE = Variant("onnxruntime", "fp32")


def candidate_variants(manifest: Manifest) -> list[Variant]:
    """Every variant the artifact's graphs allow, reference first, then by precision and backend."""
    variants = [Variant(backend, precision) for backend in ENGINE_BACKENDS
                for precision in backend_info(backend).compared_precisions
                if backend_info(backend).graph_for(precision) in manifest.graphs]
    order = {precision: index for index, precision in enumerate(PRECISION_ORDER)}
    return sorted(variants, key=lambda v: (v != REFERENCE, order[v.precision], v.backend))


def select_variants(manifest: Manifest, *, backend: str | None = None, precision: str | None = None) -> list[Variant]:
    """The candidates filtered by ``backend`` and ``precision`` ("all" or None: every one); the reference
    is always kept first, since agreement is measured against it."""
    chosen = [
        variant for variant in candidate_variants(manifest)
        if backend in (None, "all", variant.backend) and precision in (None, "all", variant.precision)
    ]
    if not chosen:
        raise InputError(
            f"no variant of {manifest.folder} matches backend={backend!r}, precision={precision!r}; it offers "
            + ", ".join(v.name for v in candidate_variants(manifest))
        )
    return [REFERENCE] + [variant for variant in chosen if variant != REFERENCE]


def open_variant(folder: Path, variant: Variant, *, task_name: str, batch_size: int, threads: int,
                 extra: dict[str, Any] | None = None) -> Any:
    """The task-class instance, or the error (BackendUnavailableError, ManifestError) that says why this variant
    cannot run here."""
    cls = task_class(task_name)
    try:
        return cls(folder, backend=variant.backend, precision=variant.precision, batch_size=batch_size,
                   intra_op_threads=threads, **(extra or {}))
    except (BackendUnavailableError, ManifestError) as error:
        return error
