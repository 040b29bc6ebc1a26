"""beit_runtime: run exported BEiT/ViT artifacts with ONNX Runtime or TensorRT, without torch.

    from beit_runtime import Classifier
    classifier = Classifier("artifacts/beit-base")
    for prediction in classifier("cat.jpg", top_k=3):
        print(prediction.label, prediction.score)
"""

from __future__ import annotations

from . import errors
from .classifier import Classifier, Prediction
from .engines import load_engine
from .features import FeatureExtractor, Features
from .images import load_image
from .manifest import load_manifest
from .masked import MaskedImageModeler
from .preprocess import Preprocessor

__all__ = [
    "Classifier",
    "FeatureExtractor",
    "Features",
    "MaskedImageModeler",
    "Prediction",
    "Preprocessor",
    "Segmenter",
    "errors",
    "load_engine",
    "load_image",
    "load_manifest",
]


def __getattr__(name: str):
    if name == "Segmenter":  # written separately; imported on first use
        from .segmenter import Segmenter

        return Segmenter
    raise AttributeError(f"module 'beit_runtime' has no attribute {name!r}")
