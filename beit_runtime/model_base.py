"""``ArtifactModel``: what every task class shares (manifest, engine, preprocessor, batching).

One object loads one artifact once: the manifest is validated (schema, hashes), the graph variant
and backend are chosen here and never again, and the preprocessor is built from the manifest's
"preprocessing" record. Calls keep no per-call state on the object, and the engines' ``run`` is
thread-safe, so one object can serve several threads at once.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .engines import BACKENDS, Engine, load_engine
from .errors import ImageFormatError, InputError, ManifestError
from .images import check_channel_order, load_image
from .manifest import REEXPORT_HINT, Manifest, load_manifest
from .preprocess import Preprocessor, parallel_map

PRECISIONS = ("fp32", "fp16", "int8", "bf16")
PIXEL_INPUT = "pixel_values"
# precisions that are a way of running a graph, not a graph: precision -> (graph variant, backend, engine options)
RUN_PRECISIONS = {"bf16": ("fp32", "openvino", {"inference_precision": "bf16"})}
# what backend="auto" picks for an ONNX graph (TensorRT is chosen before this when a plan exists). ONNX Runtime
# stays first on CPU: OpenVINO fp32 is at parity but not clearly faster at batch 1 (benchmarks/RESULTS.md).
AUTO_GRAPH_BACKEND = "onnxruntime"


def _check_options(precision: str, backend: str, batch_size: int) -> None:
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if backend not in BACKENDS:
        raise InputError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")


def _tensorrt_installed() -> bool:
    return importlib.util.find_spec("tensorrt") is not None


class ArtifactModel:
    """Base of the task classes. Subclasses set ``task`` to the manifest task they accept.

    ``precision``: "fp32", "fp16", "int8" (the artifact's graph variants) or "bf16" (the fp32 graph on
    OpenVINO with bf16 inference precision, on CPUs with bf16 units). ``backend``: "auto" (a TensorRT
    plan when the artifact has one for this precision and TensorRT is installed, else ONNX Runtime),
    "onnxruntime", "openvino" or "tensorrt". ``intra_op_threads``: inference threads for ONNX Runtime and
    OpenVINO (0: the library's choice); ``providers``: ONNX Runtime execution providers.
    """

    task: ClassVar[str] = ""

    def __init__(
        self,
        artifact_dir: str | Path,
        *,
        precision: str = "fp32",
        backend: str = "auto",
        batch_size: int = 8,
        providers: Sequence[str] | None = None,
        intra_op_threads: int = 0,
        verify_files: bool = True,
        exif_orientation: bool = True,
    ) -> None:
        _check_options(precision, backend, batch_size)
        self.exif_orientation = bool(exif_orientation)  # paths/bytes/PIL images: turned upright (images.load_image)
        self.manifest: Manifest = load_manifest(artifact_dir, verify_files=verify_files)
        if self.manifest.task != self.task:
            raise ManifestError(
                f"artifact {self.manifest.folder} is a '{self.manifest.task}' artifact; {type(self).__name__} "
                f"needs a '{self.task}' one (use {task_class_name(self.manifest.task)} for this artifact)"
            )
        self.precision = precision
        self.batch_size = batch_size
        self.preprocessor = Preprocessor.from_manifest(self.manifest)
        self.backend, variant, extra = self._choose_backend(backend)
        self.engine: Engine = self._load_engine(variant, extra, providers=providers, intra_op_threads=intra_op_threads)

    def _choose_backend(self, backend: str) -> tuple[str, str, dict]:
        """(backend, graph variant, extra engine options) for this precision; decided once, here."""
        variant, required, extra = RUN_PRECISIONS.get(self.precision, (self.precision, None, {}))
        if required is not None and backend not in ("auto", required):
            raise InputError(
                f"precision={self.precision!r} runs the {variant} graph on the {required!r} backend only, not "
                f"{backend!r}; pass backend={required!r} (or 'auto'), or another precision"
            )
        if required is not None:
            return required, variant, extra
        if backend == "auto":
            backend = "tensorrt" if variant in self.manifest.engines and _tensorrt_installed() else AUTO_GRAPH_BACKEND
        return backend, variant, extra

    def _load_engine(self, variant: str, extra: dict, *, providers: Sequence[str] | None,
                     intra_op_threads: int) -> Engine:
        if self.backend == "tensorrt":
            return load_engine(self.manifest.engine_path(variant), backend="tensorrt")
        graph = self.manifest.graph_path(variant)
        self._check_engine_parity(variant)
        if self.manifest.graphs[variant].get("role", "model") != "model":
            raise ManifestError(f"graph '{variant}' of {self.manifest.folder} is not a model graph; {REEXPORT_HINT}")
        options = {"onnxruntime": {"providers": providers, "intra_op_threads": intra_op_threads},
                   "openvino": {"threads": intra_op_threads, **extra}}[self.backend]
        return load_engine(graph, backend=self.backend, **options)

    def _check_engine_parity(self, variant: str) -> None:
        """Refuse an engine whose parity record for this graph (written by the exporter) failed."""
        name = "openvino-bf16" if self.precision == "bf16" else self.backend
        record = (self.manifest.data.get("parity", {}).get(variant, {}).get("engines") or {}).get(name)
        if record and record.get("measured") and not record.get("passed"):
            figures = ", ".join(f"{out}: rel_l2 {m.get('rel_l2', float('nan')):.3g}" for out, m in record["outputs"].items())
            raise ManifestError(
                f"the exporter measured the '{variant}' graph of {self.manifest.folder} on {name} outside the "
                f"{record['precision']} tolerances ({figures}); use backend='onnxruntime' for this precision"
            )

    # ----------------------------------------------------------------- lifecycle
    def close(self) -> None:
        self.engine.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.manifest.folder)!r}, precision={self.precision!r}, backend={self.backend!r})"

    # ----------------------------------------------------------------- inputs
    @property
    def labels(self) -> dict[int, str]:
        return self.manifest.labels

    def load_images(self, images: Any, *, channel_order: str = "rgb") -> tuple[list[np.ndarray], bool]:
        """One image or a list of images -> (list of HxWx3 uint8 RGB arrays, whether one image was given)."""
        check_channel_order(channel_order)
        single = not isinstance(images, (list, tuple)) and not (isinstance(images, np.ndarray) and images.ndim == 4)
        items = [images] if single else list(images)
        if not items:
            raise ImageFormatError("no images given; pass one image or a non-empty list of images")
        load = partial(load_image, channel_order=channel_order, exif_orientation=self.exif_orientation)
        return parallel_map(load, items), single

    def batches(self, count: int) -> Iterator[slice]:
        for start in range(0, count, self.batch_size):
            yield slice(start, min(start + self.batch_size, count))

    def pixel_values(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Preprocess decoded images into the engine's pixel_values tensor (checked against the graph)."""
        tensor = self.preprocessor.batch(images)
        spec_input = self.manifest.input
        if not spec_input.get("dynamic_resolution", False):
            expected = (int(spec_input["height"]), int(spec_input["width"]))
            if tuple(tensor.shape[2:]) != expected:
                raise ManifestError(
                    f"preprocessing makes {tensor.shape[2]}x{tensor.shape[3]} tensors but the graph of "
                    f"{self.manifest.folder} takes {expected[0]}x{expected[1]}; {REEXPORT_HINT}"
                )
        return tensor

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the engine, casting float inputs to the dtypes the graph declares; outputs come back float32/ints."""
        typed = dict(feeds)
        for spec in self.engine.inputs:
            value = typed.get(spec.name)
            if isinstance(value, np.ndarray) and value.dtype.kind == "f" and np.dtype(spec.dtype).kind == "f":
                typed[spec.name] = value.astype(spec.dtype, copy=False)
        outputs = self.engine.run(typed)
        return {name: value.astype(np.float32) if value.dtype == np.float16 else value for name, value in outputs.items()}

    def run_images(self, images: Sequence[np.ndarray], extra: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """Preprocess and run decoded images in batches of ``batch_size``; outputs concatenated on axis 0."""
        chunks: dict[str, list[np.ndarray]] = {}
        for part in self.batches(len(images)):
            feeds = {PIXEL_INPUT: self.pixel_values(images[part])}
            feeds.update({name: value[part] for name, value in (extra or {}).items()})
            for name, value in self.run(feeds).items():
                chunks.setdefault(name, []).append(value)
        return {name: np.concatenate(values, axis=0) for name, values in chunks.items()}


def task_class_name(task: str) -> str:
    return {
        "image-classification": "Classifier",
        "backbone": "FeatureExtractor",
        "masked-image-modeling": "MaskedImageModeler",
        "semantic-segmentation": "Segmenter",
    }.get(task, "a matching task class")
