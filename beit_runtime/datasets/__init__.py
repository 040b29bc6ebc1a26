"""Images on disk as data: finding them (``discovery``), labelled layouts (``labelled``), accuracy (``metrics``,
``embedding_score``)."""

from __future__ import annotations

from .discovery import (
    REPORT_FILES,
    deterministic_sample,
    file_list_digest,
    image_files,
    is_image_name,
    is_report_folder,
    name_rank,
    not_a_folder,
)
from .embedding_score import EmbeddingScore
from .labelled import IGNORE_INDEX, Sample, classification_samples, read_mask, segmentation_samples
from .metrics import ClassificationScore, SegmentationScore
from .unlabelled import FoundImages, segmentation_layout, unlabelled_images

__all__ = [
    "IGNORE_INDEX",
    "REPORT_FILES",
    "ClassificationScore",
    "EmbeddingScore",
    "FoundImages",
    "Sample",
    "SegmentationScore",
    "classification_samples",
    "deterministic_sample",
    "file_list_digest",
    "image_files",
    "is_image_name",
    "is_report_folder",
    "name_rank",
    "not_a_folder",
    "read_mask",
    "segmentation_layout",
    "segmentation_samples",
    "unlabelled_images",
]
