"""The parity gate: every exported graph against the PyTorch model it came from.

``cases`` builds the inputs (random tensors and real photos through the HF processor) and their
PyTorch references, ``gate`` runs a graph on them and judges the drift against ``tolerances``
(per precision and output kind), raising ``ParityError`` when it fails; ``engines`` runs the same
graph on OpenVINO (f32, bf16 where the CPU has it, static int8) when it is installed. ``memory`` sizes
the cases before any runs (attention scores included) and the token limit photos are checked at.
"""

from __future__ import annotations

from .cases import ParityCase, build_cases, parity_resolutions, reference_outputs
from .engines import engine_failures, engine_parity
from .gate import ENGINES, check_parity, check_postprocess_parity, evaluate, format_report
from .photos import PHOTO_NAMES, hf_preprocess, sample_photos
from .tolerances import OUTPUT_KINDS, TOLERANCES, check_tolerances, drift_metrics, output_kind

__all__ = [
    "ENGINES",
    "OUTPUT_KINDS",
    "PHOTO_NAMES",
    "TOLERANCES",
    "ParityCase",
    "build_cases",
    "check_parity",
    "check_postprocess_parity",
    "check_tolerances",
    "drift_metrics",
    "engine_failures",
    "engine_parity",
    "evaluate",
    "format_report",
    "hf_preprocess",
    "output_kind",
    "parity_resolutions",
    "reference_outputs",
    "sample_photos",
]
