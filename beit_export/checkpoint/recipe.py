"""The preprocessing recipe of a checkpoint, and the Hugging Face image processor it stands for.

The recipe (manifest schema, see ``beit_runtime.manifest``) is derived from transformers' own
PIL-backend image processor (``BeitImageProcessorPil`` / ``ViTImageProcessorPil`` /
``DeiTImageProcessorPil``), so class defaults and legacy keys (``size: 224``, ``reduce_labels``)
resolve exactly as Hugging Face resolves them; ``processor_from_recipe`` builds that same processor
back from a recipe (the numerical reference the runtime must match, see ``beit_export.parity``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import UnsupportedCheckpointError

RESAMPLE_NAMES = {0: "nearest", 2: "bilinear", 3: "bicubic"}
_PIL_CLASSES = {"beit": "BeitImageProcessorPil", "vit": "ViTImageProcessorPil", "deit": "DeiTImageProcessorPil"}
_TYPE_KEYS = ("image_processor_type", "feature_extractor_type", "processor_class", "auto_map", "_processor_class")


def _processor_family(processor_config: Mapping[str, Any] | None, model_type: str) -> str:
    declared = ""
    for key in ("image_processor_type", "feature_extractor_type"):
        declared = declared or str((processor_config or {}).get(key) or "")
    for family in ("deit", "beit", "vit"):
        if declared.lower().startswith(family):
            return family
    return model_type if model_type in _PIL_CLASSES else "vit"


def _pil_class(family: str):
    import transformers

    return getattr(transformers, _PIL_CLASSES[family])


def _config_image_size(config) -> dict[str, int]:
    size = getattr(config, "image_size", 224)
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    return {"height": int(height), "width": int(width)}


def recipe_from_processor_config(processor_config: Mapping[str, Any] | None, *, config) -> dict[str, Any]:
    """The manifest preprocessing recipe of a checkpoint's preprocessor_config.json (None: class defaults
    with the size set to ``config.image_size``, the only size a fixed-resolution graph accepts)."""
    family = _processor_family(processor_config, config.model_type)
    values = {k: v for k, v in (processor_config or {}).items() if k not in _TYPE_KEYS}
    if "reduce_labels" in values:  # legacy key the 5.x processors no longer map
        values.setdefault("do_reduce_labels", values.pop("reduce_labels"))
    if processor_config is None:
        values["size"] = _config_image_size(config)
    processor = _pil_class(family).from_dict(values)
    return _recipe_from_processor(processor)


def _size_dict(size, what: str) -> dict[str, int]:
    if size is None:
        raise UnsupportedCheckpointError(f"the image processor has no {what}")
    if getattr(size, "height", None) and getattr(size, "width", None):
        return {"height": int(size.height), "width": int(size.width)}
    if getattr(size, "shortest_edge", None) and not getattr(size, "longest_edge", None):
        return {"shortest_edge": int(size.shortest_edge)}
    raise UnsupportedCheckpointError(
        f"image processor {what} {size} is not supported: expected height+width or shortest_edge alone"
    )


def _three(values) -> list[float]:
    items = [float(values)] * 3 if np.isscalar(values) else [float(v) for v in values]
    if len(items) != 3:
        raise UnsupportedCheckpointError(f"expected 3 per-channel values for mean/std, got {items}")
    return items


def _recipe_from_processor(processor) -> dict[str, Any]:
    resample = int(processor.resample if processor.resample is not None else 2)
    if resample not in RESAMPLE_NAMES:
        raise UnsupportedCheckpointError(
            f"image processor resample={resample} is not supported; expected one of {RESAMPLE_NAMES} (PIL codes)"
        )
    center_crop = bool(processor.do_center_crop)
    return {
        "do_resize": bool(processor.do_resize),
        "size": _size_dict(processor.size, "size"),
        "resample": RESAMPLE_NAMES[resample],
        "do_center_crop": center_crop,
        "crop_size": _size_dict(processor.crop_size, "crop_size") if center_crop else None,
        "do_rescale": bool(processor.do_rescale),
        "rescale_factor": float(processor.rescale_factor),
        "do_normalize": bool(processor.do_normalize),
        "image_mean": _three(processor.image_mean),
        "image_std": _three(processor.image_std),
        "channel_order": "rgb",
        "do_reduce_labels": bool(getattr(processor, "do_reduce_labels", False) or False),
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
