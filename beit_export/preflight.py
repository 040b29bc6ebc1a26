"""What an export checks before it loads a graph or writes a file: the output folder (and that --overwrite
deletes none of the inputs), the library --tensorrt needs, that the preprocessing recipe is one the runtime
accepts and that its images fit a fixed-resolution graph, and that the position embeddings can be exported
at the configured size."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from beit_runtime.errors import BackendUnavailableError, pip_install
from beit_runtime.tasks import task

from .artifact import check_output
from .checkpoint.recipe import check_recipe
from .errors import CheckpointConfigError, UnsupportedCheckpointError
from .options import ExportOptions, ExportOptionsError


def export_inputs(model: str | Path | None, *, options: ExportOptions) -> dict[str, str | Path | None]:
    """The folders an export reads, by flag: what ``--overwrite`` must never delete."""
    return {"--model": model, "--calibration-data": options.calibration_data, "--parity-data": options.parity_data}


def check_before_export(checkpoint, *, output: Path, options: ExportOptions) -> Path:
    """The absolute artifact path, once everything an export can check up front is known good."""
    output = check_output(output, overwrite=options.overwrite,
                          inputs=export_inputs(checkpoint.source.get("model"), options=options))
    check_channels(getattr(checkpoint.config, "num_channels", 3), where="the checkpoint's config (config.json)")
    _check_environment(options)
    _check_task_options(checkpoint.task, options)
    check_recipe(checkpoint.preprocessing, where="the checkpoint's preprocessing recipe (preprocessor_config.json)")
    _check_preprocessing_size(checkpoint, dynamic_resolution=options.dynamic_resolution)
    _check_position_grid(checkpoint.config, dynamic_resolution=options.dynamic_resolution)
    return output


def check_folder_channels(folder: Path) -> None:
    """``check_channels`` on a checkpoint folder's config.json num_channels and preprocessor_config.json
    image_mean / image_std, read without transformers (files it cannot read are the loader's to report)."""
    config, processor = _json_object(folder / "config.json"), _json_object(folder / "preprocessor_config.json")
    check_channels(config.get("num_channels", 3), where=f"{folder / 'config.json'}")
    for name in ("image_mean", "image_std"):
        value = processor.get(name)
        if isinstance(value, list) and len(value) != 3:
            check_channels(len(value), where=f"{folder / 'preprocessor_config.json'}", field=f"{name} {value}")


def check_channels(channels: Any, *, where: str, field: str | None = None) -> None:
    """UnsupportedCheckpointError unless images have 3 channels: beit-runtime prepares every image with
    transformers' image processors, which make RGB pixels, so a 1-channel (grayscale) model could never be fed."""
    if channels == 3 or not isinstance(channels, int) or isinstance(channels, bool):
        return  # not a count at all: the loader names the field
    shown = field or f"num_channels {channels}"
    raise UnsupportedCheckpointError(
        f"{where} has {shown} (images of {channels} channel(s)), and beit-deploy exports 3-channel (RGB) models only "
        "(its runtime prepares images with transformers' image processors, which make 3 channels, so nothing "
        "could feed this graph). Convert the checkpoint to 3 channels: repeat the patch embedding's weights over "
        "3 input channels divided by 3 (the same outputs for gray images), set num_channels 3 and give image_mean "
        "and image_std 3 values each"
    )


def _json_object(path: Path) -> Mapping[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _check_task_options(task_name: str, options: ExportOptions) -> None:
    """ExportOptionsError for a graph copy the task's runtime class would never run."""
    if options.uint8_input and not task(task_name).device_normalisation:
        raise ExportOptionsError(
            f"--uint8-input writes graphs that take uint8 pixels, and the {task_name} task class never feeds them "
            "(its sliding window works on normalised tensors): drop --uint8-input"
        )


def _check_environment(options: ExportOptions) -> None:
    if options.tensorrt and importlib.util.find_spec("tensorrt") is None:
        raise BackendUnavailableError(
            f"--tensorrt builds an engine here and needs TensorRT: install it with `{pip_install('tensorrt')}` on a "
            "CUDA machine, or export without --tensorrt and run `beit-export build-engine FOLDER` on the target GPU"
        )


def _check_preprocessing_size(checkpoint, *, dynamic_resolution: bool) -> None:
    from .modeling import config_image_size  # imports torch: export_inputs must not

    recipe = checkpoint.preprocessing
    produced = recipe["crop_size"] if recipe["do_center_crop"] else recipe["size"]
    native = config_image_size(checkpoint.config)
    if dynamic_resolution:
        return
    if not recipe["do_resize"] and not recipe["do_center_crop"]:
        raise ExportOptionsError(
            f"the checkpoint's image processor (preprocessor_config.json) has do_resize false and no centre crop, so "
            f"images keep their own size, and a fixed-resolution graph takes {native[0]}x{native[1]} only: export "
            "with --dynamic-resolution, or set do_resize to true in preprocessor_config.json"
        )
    if (produced.get("height"), produced.get("width")) != native:
        raise CheckpointConfigError(
            f"the checkpoint's image processor (preprocessor_config.json) produces {produced} images but "
            f"config.json's image_size makes a fixed-resolution graph take {native[0]}x{native[1]}: fix whichever "
            "of the two files is wrong, or export with --dynamic-resolution to accept any size"
        )


def _check_position_grid(config, *, dynamic_resolution: bool) -> None:
    """UnsupportedCheckpointError / ExportOptionsError where transformers itself cannot place the absolute
    position embeddings of a non-square patch grid (it interpolates them as a square one)."""
    from .modeling import config_image_size  # imports torch: export_inputs must not

    height, width = config_image_size(config)
    rows, columns = height // config.patch_size, width // config.patch_size
    # ViT's and DeiT's tables are always absolute (DeiT's forward interpolates them as a square grid too)
    absolute = config.model_type in ("vit", "deit") or bool(getattr(config, "use_absolute_position_embeddings", False))
    if rows == columns or not absolute:
        return
    if config.model_type == "beit":
        raise UnsupportedCheckpointError(
            f"config.json's image_size {height}x{width} makes a {rows}x{columns} patch grid, and transformers' BEiT "
            "interpolates absolute position embeddings as a square grid (its own forward fails at this size), so "
            "there is no reference to check an export against: use a square image_size"
        )
    if dynamic_resolution:
        raise ExportOptionsError(
            f"--dynamic-resolution interpolates the position embeddings as a square grid, as transformers does, and "
            f"config.json's image_size {height}x{width} makes a {rows}x{columns} one: export without "
            f"--dynamic-resolution (the graph then takes {height}x{width} images)"
        )
