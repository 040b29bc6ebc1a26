"""beit_runtime: run exported BEiT/ViT artifacts with ONNX Runtime or TensorRT, without torch.

    from beit_runtime import Classifier
    classifier = Classifier("artifacts/beit-base")
    for prediction in classifier("cat.jpg", top_k=3):
        print(prediction.label, prediction.score)

Every task class takes the run options (``RunOptions``: precision, backend, batch_size, threads,
providers, ...) as ``options=`` or as keywords; ``task_class(task)`` is the class for a task name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import errors
from .classifier import Classifier, Prediction
from .engines import load_engine
from .features import FeatureExtractor, Features
from .images import load_image
from .manifest import load_manifest
from .masked import MaskedImageModeler
from .model_base import task_class
from .options import RunOptions
from .preprocess import Preprocessor

if TYPE_CHECKING:
    from .segmenter import SegmentationResult, Segmenter

__all__ = [
    "Classifier",
    "FeatureExtractor",
    "Features",
    "MaskedImageModeler",
    "Prediction",
    "Preprocessor",
    "RunOptions",
    "SegmentationResult",
    "Segmenter",
    "errors",
    "load_engine",
    "load_image",
    "load_manifest",
    "task_class",
]


_LAZY = ("SegmentationResult", "Segmenter")  # beit_runtime.segmenter, written separately: imported on first use

if not TYPE_CHECKING:  # type checkers read the imports above, and report any other name as missing

    def __getattr__(name: str) -> Any:
        if name in _LAZY:
            from . import segmenter

            return getattr(segmenter, name)
        raise AttributeError(f"module 'beit_runtime' has no attribute {name!r}")
