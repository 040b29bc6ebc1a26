"""``model_warmup`` for every non-ensemble model: one real image through the models before Triton says ready.

Triton runs each model's ``model_warmup`` samples while the model loads (a model whose warmup fails does
not load), so readiness means "has answered a real request", not "has started". Ensembles cannot carry
``model_warmup`` (Triton refuses: "model_warmup can not be specified for ensemble"), so their composing
models are warmed one by one, each with the tensors it would see for the same image:

- ``NAME_preprocess``: the encoded image (PNG bytes; a TYPE_STRING file holds each element as a 4-byte
  little-endian length followed by the bytes);
- ``NAME_engine``: that image's ``pixel_values``, made at export time by beit_runtime's ``Preprocessor``
  from the artifact's manifest (what NAME_preprocess returns), in the dtype the engine config takes;
  other inputs (masked image modeling's ``bool_masked_pos``) are zeros;
- ``NAME_postprocess``: the engine's outputs on those pixels, computed at export time with beit_runtime's
  ONNX Runtime engine on the graph of the repository's precision, plus ``original_size``.

The sample files lie in each model's ``warmup/`` folder (Triton's place for ``input_data_file``), one file
per input, named after it; batch size 1. The image is scikit-image's ``chelsea`` (CC0, shipped in its
wheel; scikit-image is in the ``export`` extra), scaled to 224 pixels wide (~70 KB as PNG).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

from beit_runtime import serving_protocol as protocol
from beit_runtime.engines import load_engine
from beit_runtime.errors import missing_extra
from beit_runtime.images import load_image
from beit_runtime.manifest import Manifest
from beit_runtime.preprocess import Preprocessor

from .configs import TRITON_TYPES, Config
from .options import TritonOptionsError, TritonRepositoryOptions

WARMUP_FOLDER = "warmup"
SAMPLE_NAME = "real_image"
IMAGE_WIDTH = 224
NUMPY_TYPES = {triton: np.dtype(name) for name, triton in TRITON_TYPES.items()}


@dataclass(frozen=True)
class WarmupSample:
    """One model's ``model_warmup`` entry and the files of its ``warmup/`` folder ({file name: bytes})."""

    entry: Config
    files: dict[str, bytes] = field(default_factory=dict)


@lru_cache(maxsize=1)
def warmup_image() -> bytes:
    """The encoded (PNG) real photo every repository is warmed with: scikit-image's ``chelsea``, 224 wide."""
    try:
        import skimage.data
    except ImportError as error:  # pragma: no cover - scikit-image is in the export extra
        raise TritonOptionsError(f"{missing_extra('scikit-image', 'export', needed_by='the warmup image')}, or turn "
                                 "warmup off (--no-warmup)") from error
    photo = np.ascontiguousarray(skimage.data.chelsea())  # (300, 451, 3) RGB uint8
    height = round(photo.shape[0] * IMAGE_WIDTH / photo.shape[1])
    small = cv2.resize(photo, (IMAGE_WIDTH, height), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(small[:, :, ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:  # pragma: no cover - OpenCV always writes PNG
        raise TritonOptionsError("OpenCV could not encode the warmup image as PNG; turn warmup off (--no-warmup)")
    return bytes(encoded.tobytes())


def string_tensor_bytes(items: Sequence[bytes]) -> bytes:
    """A TYPE_STRING warmup file: each element as a 4-byte little-endian length, then its bytes."""
    return b"".join(struct.pack("<I", len(item)) + bytes(item) for item in items)


def file_input(name: str, value: np.ndarray, data_type: str) -> tuple[Config, bytes]:
    """A warmup input read from ``warmup/<name>``: dims are the value's own (without the batch axis)."""
    if data_type not in NUMPY_TYPES:
        raise TritonOptionsError(f"warmup input '{name}' has type {data_type}, which warmup files here do not "
                                 f"write ({', '.join(NUMPY_TYPES)}); turn warmup off (--no-warmup)")
    data = np.ascontiguousarray(value, dtype=NUMPY_TYPES[data_type].newbyteorder("<"))
    spec = {"data_type": data_type, "dims": [int(dim) for dim in value.shape[1:]], "input_data_file": name}
    return spec, data.tobytes()


def _sample(inputs: Mapping[str, tuple[Config, bytes | None]]) -> WarmupSample:
    entry = {"name": SAMPLE_NAME, "batch_size": 1, "inputs": {name: spec for name, (spec, _) in inputs.items()}}
    return WarmupSample(entry=entry, files={name: data for name, (_, data) in inputs.items() if data is not None})


def _specs(config: Config) -> dict[str, Config]:
    return {spec["name"]: spec for spec in config["input"]}


def preprocess_sample(image: bytes) -> WarmupSample:
    spec = {"data_type": "TYPE_STRING", "dims": [1], "input_data_file": protocol.IMAGE_INPUT}
    return _sample({protocol.IMAGE_INPUT: (spec, string_tensor_bytes([image]))})


def engine_feeds(config: Config, pixels: np.ndarray, *, patch_size: int) -> dict[str, np.ndarray]:
    """The engine's inputs for one image: its pixel values and zeros for any other input (a mask)."""
    feeds: dict[str, np.ndarray] = {}
    for name, spec in _specs(config).items():
        if name == protocol.PIXEL_VALUES:
            feeds[name] = pixels.astype(NUMPY_TYPES[spec["data_type"]])
            continue
        patches = (pixels.shape[2] // patch_size) * (pixels.shape[3] // patch_size)
        dims = [dim if dim >= 0 else patches for dim in spec["dims"]]
        feeds[name] = np.zeros((1, *dims), dtype=NUMPY_TYPES[spec["data_type"]])
    return feeds


def engine_sample(config: Config, feeds: Mapping[str, np.ndarray]) -> WarmupSample:
    inputs: dict[str, tuple[Config, bytes | None]] = {}
    for name, spec in _specs(config).items():
        if name == protocol.PIXEL_VALUES:
            inputs[name] = file_input(name, feeds[name], spec["data_type"])
        else:  # a mask: zeros, which Triton makes itself
            dims = [int(dim) for dim in feeds[name].shape[1:]]
            inputs[name] = ({"data_type": spec["data_type"], "dims": dims, "zero_data": True}, None)
    return _sample(inputs)


def postprocess_sample(config: Config, values: Mapping[str, np.ndarray]) -> WarmupSample:
    missing = [name for name in _specs(config) if name not in values]
    if missing:
        raise TritonOptionsError(f"the engine gives no {', '.join(missing)} for post-processing's warmup; "
                                 "re-export the artifact or turn warmup off (--no-warmup)")
    return _sample({name: file_input(name, values[name], spec["data_type"]) for name, spec in _specs(config).items()})


def engine_outputs(manifest: Manifest, options: TritonRepositoryOptions, feeds: Mapping[str, np.ndarray]):
    """The graph of the repository's precision run on ``feeds`` with ONNX Runtime on the CPU."""
    engine = load_engine(manifest.graph_path(options.graph_variant), backend="onnxruntime",
                         providers=["CPUExecutionProvider"], optimized_cache=False)
    try:
        wanted = {spec.name: spec.dtype for spec in engine.inputs}
        return engine.run({name: value.astype(wanted[name]) for name, value in feeds.items() if name in wanted})
    finally:
        engine.close()


def warmup_samples(configs: Mapping[str, Config], manifest: Manifest, options: TritonRepositoryOptions,
                   *, name: str) -> dict[str, WarmupSample]:
    """{model name: its warmup sample} for every model of the repository but the ensemble."""
    names = protocol.model_names(name)
    image = warmup_image()
    decoded = load_image(image)
    pixels = Preprocessor.from_manifest(manifest)(decoded)[None]
    feeds = engine_feeds(configs[names["engine"]], pixels, patch_size=manifest.input.patch_size)
    samples = {names["preprocess"]: preprocess_sample(image),
               names["engine"]: engine_sample(configs[names["engine"]], feeds)}
    if names["postprocess"] in configs:
        values = dict(engine_outputs(manifest, options, feeds))
        values[protocol.ORIGINAL_SIZE] = np.array([decoded.shape[:2]], dtype=np.int32)
        samples[names["postprocess"]] = postprocess_sample(configs[names["postprocess"]], values)
    return samples


def with_warmup(configs: Mapping[str, Config], samples: Mapping[str, WarmupSample]) -> dict[str, Config]:
    """The configs with each sampled model's ``model_warmup`` added (others unchanged)."""
    return {model: {**config, "model_warmup": [samples[model].entry]} if model in samples else dict(config)
            for model, config in configs.items()}
