"""The preprocessing recipe of a checkpoint, and the Hugging Face image processor it stands for.

The recipe (manifest schema, see ``beit_runtime.manifest``) is derived from transformers' own
PIL-backend image processor (``BeitImageProcessorPil`` / ``ViTImageProcessorPil`` /
``DeiTImageProcessorPil``), so class defaults and legacy keys (``size: 224``, ``reduce_labels``)
resolve exactly as Hugging Face resolves them; ``processor_from_recipe`` builds that same processor
back from a recipe (the numerical reference the runtime must match, see ``beit_export.parity``).

Only the BEiT/ViT/DeiT processor classes are reproduced (``SUPPORTED_PROCESSORS``): a preprocessor_config.json
declaring another class is refused, not read as a BEiT/ViT recipe. Values transformers accepts but cannot use
(``"resample": "bicubic"``, two means) and values the runtime refuses (a zero std) are refused here, by the
runtime's own ``Preprocessor`` checks, with a ``CheckpointConfigError`` naming the file and the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from numbers import Integral, Real
from types import MappingProxyType
from typing import Any

from ..errors import CheckpointConfigError, UnsupportedCheckpointError

RESAMPLE_NAMES = {0: "nearest", 2: "bilinear", 3: "bicubic"}
PROCESSOR_FILE = "preprocessor_config.json"
_PIL_CLASSES = {"beit": "BeitImageProcessorPil", "vit": "ViTImageProcessorPil", "deit": "DeiTImageProcessorPil"}
_TYPE_KEYS = ("image_processor_type", "feature_extractor_type", "processor_class", "auto_map", "_processor_class")
_FAMILY_PREFIXES = {"beit": "Beit", "vit": "ViT", "deit": "DeiT"}
_CLASS_SUFFIXES = ("ImageProcessor", "ImageProcessorFast", "ImageProcessorPil", "FeatureExtractor")
# the processor classes a preprocessor_config.json may declare -> the PIL-backend family reproducing them
SUPPORTED_PROCESSORS: Mapping[str, str] = MappingProxyType(
    {prefix + suffix: family for family, prefix in _FAMILY_PREFIXES.items() for suffix in _CLASS_SUFFIXES}
)


def _processor_family(processor_config: Mapping[str, Any] | None, model_type: str, *, where: str) -> str:
    for key in ("image_processor_type", "feature_extractor_type"):
        declared = (processor_config or {}).get(key)
        if not declared:
            continue
        family = SUPPORTED_PROCESSORS.get(str(declared))
        if family is None:
            raise UnsupportedCheckpointError(
                f"{where}: {key} {declared!r} is not supported; beit-export reproduces BeitImageProcessor, "
                "ViTImageProcessor and DeiTImageProcessor (and their Fast, Pil and FeatureExtractor names) only, "
                "another processor's recipe gives other pixels: export a checkpoint that uses one of those"
            )
        return family
    return model_type if model_type in _PIL_CLASSES else "vit"


def processor_class_name(model_type: str) -> str:
    """The transformers image processor class whose defaults a checkpoint without preprocessor_config.json gets."""
    return _PIL_CLASSES[model_type if model_type in _PIL_CLASSES else "vit"].removesuffix("Pil")


def _pil_class(family: str):
    import transformers

    return getattr(transformers, _PIL_CLASSES[family])


def _config_image_size(config) -> dict[str, int]:
    size = getattr(config, "image_size", 224)
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    return {"height": int(height), "width": int(width)}


def recipe_from_processor_config(processor_config: Mapping[str, Any] | None, *, config,
                                 where: str = PROCESSOR_FILE) -> dict[str, Any]:
    """The manifest preprocessing recipe of a checkpoint's preprocessor_config.json (None: class defaults
    with the size set to ``config.image_size``, the only size a fixed-resolution graph accepts), checked as the
    runtime checks it. ``where`` names the file in errors (CheckpointConfigError, UnsupportedCheckpointError)."""
    family = _processor_family(processor_config, config.model_type, where=where)
    values = {k: v for k, v in (processor_config or {}).items() if k not in _TYPE_KEYS}
    if "reduce_labels" in values:  # legacy key the 5.x processors no longer map
        values.setdefault("do_reduce_labels", values.pop("reduce_labels"))
    if processor_config is None:
        values["size"] = _config_image_size(config)
    recipe = _recipe_from_processor(_processor(family, values, where=where), where=where)
    check_recipe(recipe, where=where)
    return recipe


def _processor(family: str, values: dict[str, Any], *, where: str):
    try:
        return _pil_class(family).from_dict(values)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        cause = " ".join(str(error).split())
        raise CheckpointConfigError(
            f"{where}: {cause}; fix that field (transformers' {_PIL_CLASSES[family]} could not read it)"
        ) from None


def check_recipe(recipe: Mapping[str, Any], *, where: str) -> None:
    """CheckpointConfigError naming ``where`` when the runtime's ``Preprocessor`` would refuse ``recipe``."""
    from beit_runtime.errors import PreprocessingRecordError
    from beit_runtime.preprocess import Preprocessor

    try:
        Preprocessor.from_manifest(dict(recipe))
    except PreprocessingRecordError as error:
        raise CheckpointConfigError(
            f"{where}: {error.reason}; the runtime cannot preprocess images with it: fix that field"
        ) from None


def _bad(where: str, name: str, value: Any, expected: str) -> CheckpointConfigError:
    return CheckpointConfigError(f"{where}: {name} is {value!r}; expected {expected}")


def _size_dict(size, name: str, *, where: str) -> dict[str, int]:
    if size is None:
        raise UnsupportedCheckpointError(f"{where}: the image processor has no {name}")
    if getattr(size, "height", None) and getattr(size, "width", None):
        return {"height": _integer(size.height, name, where=where), "width": _integer(size.width, name, where=where)}
    if getattr(size, "shortest_edge", None) and not getattr(size, "longest_edge", None):
        return {"shortest_edge": _integer(size.shortest_edge, name, where=where)}
    shown = size
    if is_dataclass(size) and not isinstance(size, type):  # transformers' SizeDict: the keys that are set
        shown = {key: value for key, value in asdict(size).items() if value is not None}
    raise UnsupportedCheckpointError(
        f"{where}: {name} {shown} is not supported: expected height+width or shortest_edge alone"
    )


def _integer(value: Any, name: str, *, where: str) -> int:
    if isinstance(value, Integral) and not isinstance(value, bool):
        return int(value)
    raise _bad(where, name, value, "whole numbers of pixels")


def _flag(processor, name: str, *, where: str) -> bool:
    value = getattr(processor, name, False)
    if value is None or isinstance(value, bool) or (isinstance(value, Integral) and value in (0, 1)):
        return bool(value)
    raise _bad(where, name, value, "true or false")


def _number(value: Any, name: str, *, where: str) -> float:
    if isinstance(value, Real) and not isinstance(value, bool):
        return float(value)
    raise _bad(where, name, value, "a number (rescale_factor: 1/255 = 0.00392156862745098 for 8-bit images)")


def _three(values: Any, name: str, *, where: str) -> list[float]:
    items = list(values) if isinstance(values, (list, tuple)) else [values] * 3
    if len(items) != 3 or not all(isinstance(v, Real) and not isinstance(v, bool) for v in items):
        raise _bad(where, name, values, "3 per-channel numbers (red, green, blue)")
    return [float(v) for v in items]


def _resample(value: Any, *, where: str) -> str:
    code = 2 if value is None else value
    if isinstance(code, Integral) and not isinstance(code, bool) and int(code) in RESAMPLE_NAMES:
        return RESAMPLE_NAMES[int(code)]
    codes = ", ".join(f"{number} ({name})" for number, name in RESAMPLE_NAMES.items())
    raise _bad(where, "resample", value, f"a PIL resampling code: {codes}")


def _recipe_from_processor(processor, *, where: str) -> dict[str, Any]:
    center_crop = _flag(processor, "do_center_crop", where=where)
    return {
        "do_resize": _flag(processor, "do_resize", where=where),
        "size": _size_dict(processor.size, "size", where=where),
        "resample": _resample(processor.resample, where=where),
        "do_center_crop": center_crop,
        "crop_size": _size_dict(processor.crop_size, "crop_size", where=where) if center_crop else None,
        "do_rescale": _flag(processor, "do_rescale", where=where),
        "rescale_factor": _number(processor.rescale_factor, "rescale_factor", where=where),
        "do_normalize": _flag(processor, "do_normalize", where=where),
        "image_mean": _three(processor.image_mean, "image_mean", where=where),
        "image_std": _three(processor.image_std, "image_std", where=where),
        "channel_order": "rgb",
        "do_reduce_labels": _flag(processor, "do_reduce_labels", where=where),
    }


def processor_from_recipe(preprocessing: Mapping[str, Any], *, model_type: str = "beit"):
    """transformers' PIL-backend image processor configured exactly as ``preprocessing`` says."""
    codes = {name: code for code, name in RESAMPLE_NAMES.items()}
    family = model_type if model_type in _PIL_CLASSES else "vit"
    return _pil_class(family)(
        do_resize=preprocessing["do_resize"],
        size=dict(preprocessing["size"]),
        resample=codes[preprocessing["resample"]],
        do_center_crop=preprocessing["do_center_crop"],
        crop_size=dict(preprocessing["crop_size"]) if preprocessing.get("crop_size") else None,
        do_rescale=preprocessing["do_rescale"],
        rescale_factor=preprocessing["rescale_factor"],
        do_normalize=preprocessing["do_normalize"],
        image_mean=list(preprocessing["image_mean"]),
        image_std=list(preprocessing["image_std"]),
    )
