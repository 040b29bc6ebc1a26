"""Images on disk as data: finding them (``discovery``), labelled layouts (``labelled``), accuracy (``metrics``)."""

from __future__ import annotations

from .discovery import (
    deterministic_sample,
    file_list_digest,
    image_files,
    is_image_name,
    name_rank,
    not_a_folder,
)
from .labelled import IGNORE_INDEX, Sample, classification_samples, read_mask, segmentation_samples
from .metrics import ClassificationScore, SegmentationScore

__all__ = [
    "IGNORE_INDEX",
    "ClassificationScore",
    "Sample",
    "SegmentationScore",
    "classification_samples",
    "deterministic_sample",
    "file_list_digest",
    "image_files",
    "is_image_name",
    "name_rank",
    "not_a_folder",
    "read_mask",
    "segmentation_samples",
]
