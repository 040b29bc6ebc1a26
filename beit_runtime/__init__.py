"""beit_runtime: run exported BEiT/ViT artifacts with ONNX Runtime or TensorRT, without torch.

    from beit_runtime import Classifier
    classifier = Classifier("artifacts/beit-base")
    for prediction in classifier("cat.jpg", top_k=3):
        print(prediction.label, prediction.score)

Every task class takes the run options (``RunOptions``: precision, backend, batch_size, threads,
providers, ...) as ``options=`` or as keywords; ``task_class(task)`` is the class for a task name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    from .segmenter import Segmenter

__all__ = [
    "Classifier",
    "FeatureExtractor",
    "Features",
    "MaskedImageModeler",
    "Prediction",
    "Preprocessor",
    "RunOptions",
    "Segmenter",
    "errors",
    "load_engine",
    "load_image",
    "load_manifest",
    "task_class",
]


def __getattr__(name: str) -> type[Segmenter]:
    if name == "Segmenter":  # written separately; imported on first use
        from .segmenter import Segmenter

        return Segmenter
    raise AttributeError(f"module 'beit_runtime' has no attribute {name!r}")
