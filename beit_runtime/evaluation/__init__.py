"""Measuring an artifact's variants on the user's own labelled images (``evaluate``)."""

from __future__ import annotations

from .evaluate import EvaluationOptions, EvaluationReport, VariantResult, evaluate
from .variants import REFERENCE, Variant, candidate_variants, select_variants

__all__ = [
    "REFERENCE",
    "EvaluationOptions",
    "EvaluationReport",
    "Variant",
    "VariantResult",
    "candidate_variants",
    "evaluate",
    "select_variants",
]
