"""``RunOptions``: how a task class runs an artifact, chosen once, checked when made.

    from beit_runtime import Classifier, RunOptions

    options = RunOptions(precision="fp16", batch_size=16)
    classifier = Classifier("artifacts/beit-base", options=options)        # or the same as keywords:
    classifier = Classifier("artifacts/beit-base", precision="fp16", batch_size=16)

Every task class takes ``options=`` and the fields below as keywords (keywords replace the fields of
``options``); each class adds only its own options (``Segmenter``: mode, crop_size, stride, ...).
``positive_int`` / ``non_negative_int`` are the runtime's one integer check, ``flag`` its one bool check.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from .argument_types import max_threads
from .engines import BACKENDS
from .errors import InputError

PRECISIONS = ("fp32", "fp16", "int8", "bf16")
# precision="auto": this machine's plan for the artifact (``beit-run tune``), fp32 without one
AUTO_PRECISION = "auto"
# "enforce": refuse a backend whose parity record (measured by the exporter) failed for the graph;
# "ignore": run it anyway (to measure it, say), the record is not consulted
PARITY_POLICIES = ("enforce", "ignore")


def _whole_number(name: str, value: object, *, minimum: int, wanted: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or int(value) < minimum:
        raise InputError(f"{name} must be {wanted}, got {value!r}")
    return int(value)


def positive_int(name: str, value: object) -> int:
    """``value`` as an int when it is a whole number >= 1 (bools refused); InputError naming ``name`` otherwise."""
    return _whole_number(name, value, minimum=1, wanted="a positive integer")


def non_negative_int(name: str, value: object) -> int:
    """``value`` as an int when it is a whole number >= 0 (bools refused); InputError naming ``name`` otherwise."""
    return _whole_number(name, value, minimum=0, wanted="a non-negative integer")


def thread_count(name: str, value: object) -> int:
    """``value`` as a number of threads (0: the library's choice); InputError above ``max_threads()``."""
    threads = non_negative_int(name, value)
    if threads > max_threads():
        raise InputError(f"{name} is {threads}, more than 4 threads per CPU here ({os.cpu_count()} CPUs: at most "
                         f"{max_threads()}); pass 0 for the library's choice, or at most the number of cores")
    return threads


def flag(name: str, value: object) -> bool:
    """``value`` when it is a bool (numpy's too); InputError naming ``name`` otherwise ("no" is not False)."""
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")
    return bool(value)


def _one_of(name: str, value: object, choices: Sequence[str]) -> str:
    if value not in choices:
        raise InputError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return str(value)


def _providers(value: Sequence[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str) or not all(isinstance(item, str) for item in value):
        raise InputError(
            f"providers must be a list of ONNX Runtime execution provider names such as "
            f"['CPUExecutionProvider'], got {value!r}"
        )
    return tuple(value)


class RunKeywords(TypedDict, total=False):
    """``RunOptions``' fields as keywords of the task classes (``**run_options: Unpack[RunKeywords]``), so a
    type checker reports a misspelt or mistyped one; kept equal to ``RunOptions``' fields by a test."""

    precision: str
    backend: str
    batch_size: int
    intra_op_threads: int
    providers: Sequence[str] | None
    verify_files: bool
    exif_orientation: bool
    parity_policy: str
    cuda_graph_batch_sizes: Sequence[int]
    fused_attention: bool
    device_normalisation: bool
    plan: str | Path | None


@dataclass(frozen=True)
class RunOptions:
    """How a task class runs an artifact.

    ``precision``: "fp32", "fp16", "int8" (the artifact's graph variants) or "bf16" (the fp32 graph on OpenVINO
    with bf16 inference precision, on CPUs with bf16 units). ``backend``: "auto" (a TensorRT plan when the
    artifact has one for this precision and TensorRT is installed, else ONNX Runtime), "onnxruntime", "openvino"
    or "tensorrt". ``batch_size``: images per engine call. ``intra_op_threads``: inference threads for ONNX
    Runtime and OpenVINO (0: the library's choice); ``providers``: ONNX Runtime execution providers (None: the
    best available). ``verify_files``: check, on load, the hashes of the files the run reads (the graphs or
    engine that run, and the files no graph names; another precision's graph is not read, so not checked:
    ``Manifest.check_run_files``). ``exif_orientation``: turn paths/bytes/PIL images upright. ``parity_policy``:
    "enforce" refuses a backend the exporter measured outside the tolerances, "ignore" runs it anyway.
    ``precision="auto"`` runs the variant this machine's plan chose (``beit-run tune``; ``plan``: a plan file
    instead of the user cache), fp32 without an applicable plan; the choice and its reason are in ``choice`` and
    ``repr``. GPU (ONNX Runtime's CUDA provider, issue 21): ``cuda_graph_batch_sizes`` captures one CUDA graph
    per batch size; ``fused_attention`` runs the ``fp16-fused`` graph (precision "fp16", export
    ``--fused-attention``); ``device_normalisation`` feeds uint8 pixels to the ``-uint8`` copy of the graph,
    which normalises them itself (export ``--uint8-input``; not for segmentation, whose sliding window works on
    normalised tensors).
    """

    precision: str = "fp32"
    backend: str = "auto"
    batch_size: int = 8
    intra_op_threads: int = 0
    providers: Sequence[str] | None = None  # kept as a tuple
    verify_files: bool = True
    exif_orientation: bool = True
    parity_policy: str = "enforce"
    cuda_graph_batch_sizes: Sequence[int] = ()  # kept as a tuple
    fused_attention: bool = False
    device_normalisation: bool = False
    plan: str | Path | None = None  # with precision="auto": this plan file instead of the user cache

    def __post_init__(self) -> None:
        checked = {
            "precision": _one_of("precision", self.precision, (*PRECISIONS, AUTO_PRECISION)),
            "backend": _one_of("backend", self.backend, BACKENDS),
            "batch_size": positive_int("batch_size", self.batch_size),
            "intra_op_threads": thread_count("intra_op_threads", self.intra_op_threads),
            "providers": _providers(self.providers),
            "verify_files": flag("verify_files", self.verify_files),
            "exif_orientation": flag("exif_orientation", self.exif_orientation),
            "parity_policy": _one_of("parity_policy", self.parity_policy, PARITY_POLICIES),
            "cuda_graph_batch_sizes": tuple(positive_int("cuda_graph_batch_sizes entry", size)
                                            for size in self.cuda_graph_batch_sizes),
            "fused_attention": flag("fused_attention", self.fused_attention),
            "device_normalisation": flag("device_normalisation", self.device_normalisation),
            "plan": self._plan(),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    def _plan(self) -> Path | None:
        if self.plan is None:
            return None
        if self.precision != AUTO_PRECISION:
            raise InputError(f"plan={self.plan!r} is followed by precision='auto' only; pass precision='auto' too")
        return Path(self.plan)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(field.name for field in dataclasses.fields(cls))

    @classmethod
    def resolve(cls, options: RunOptions | None, keywords: Mapping[str, Any], *, owner: str,
                own: Sequence[str] = ()) -> RunOptions:
        """``options`` (default: ``RunOptions()``) with ``keywords`` replacing its fields.

        ``owner`` names the caller in the TypeError an unknown keyword raises (as a misspelt keyword
        argument of any function would), which lists the valid ones: the caller's ``own`` keywords, then
        the run options.
        """
        unknown = sorted(set(keywords) - set(cls.field_names()))
        if unknown:
            owns = f"{owner}'s own are {', '.join(own)}; " if own else ""
            raise TypeError(
                f"{owner}() got unexpected keyword argument(s) {', '.join(map(repr, unknown))}; {owns}"
                f"the run options are {', '.join(cls.field_names())} (or pass options=RunOptions(...))"
            )
        if options is not None and not isinstance(options, cls):
            raise InputError(f"options must be a RunOptions, got {type(options).__name__}")
        return dataclasses.replace(options or cls(), **keywords)
