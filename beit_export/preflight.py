"""What an export checks before it loads a graph or writes a file: the output folder (and that --overwrite
deletes none of the inputs), the library --tensorrt needs, and that the image processor's size fits a
fixed-resolution graph."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from beit_runtime.errors import BackendUnavailableError
from beit_runtime.tasks import task

from .artifact import check_output
from .errors import ExportError
from .options import ExportOptions, ExportOptionsError


def export_inputs(model: str | Path | None, *, options: ExportOptions) -> dict[str, str | Path | None]:
    """The folders an export reads, by flag: what ``--overwrite`` must never delete."""
    return {"--model": model, "--calibration-data": options.calibration_data, "--parity-data": options.parity_data}


def check_before_export(checkpoint, *, output: Path, options: ExportOptions) -> Path:
    """The absolute artifact path, once everything an export can check up front is known good."""
    output = check_output(output, overwrite=options.overwrite,
                          inputs=export_inputs(checkpoint.source.get("model"), options=options))
    _check_environment(checkpoint, options)
    _check_task_options(checkpoint.task, options)
    return output


def _check_task_options(task_name: str, options: ExportOptions) -> None:
    """ExportOptionsError for a graph copy the task's runtime class would never run."""
    if options.uint8_input and not task(task_name).device_normalisation:
        raise ExportOptionsError(
            f"--uint8-input writes graphs that take uint8 pixels, and the {task_name} task class never feeds them "
            "(its sliding window works on normalised tensors): drop --uint8-input"
        )


def _check_environment(checkpoint, options: ExportOptions) -> None:
    if options.tensorrt and importlib.util.find_spec("tensorrt") is None:
        raise BackendUnavailableError(
            "--tensorrt builds an engine here and needs TensorRT: install `beit-deploy[tensorrt]` on a CUDA "
            "machine, or export without --tensorrt and run `beit-export build-engine FOLDER` on the target GPU"
        )
    _check_preprocessing_size(checkpoint, dynamic_resolution=options.dynamic_resolution)


def _check_preprocessing_size(checkpoint, *, dynamic_resolution: bool) -> None:
    from .modeling import config_image_size  # imports torch: export_inputs must not

    recipe = checkpoint.preprocessing
    produced = recipe["crop_size"] if recipe["do_center_crop"] else recipe["size"]
    native = config_image_size(checkpoint.config)
    if dynamic_resolution:
        return
    if (produced.get("height"), produced.get("width")) != native:
        raise ExportError(
            f"the checkpoint's image processor (preprocessor_config.json) produces {produced} images but "
            f"config.json's image_size makes a fixed-resolution graph take {native[0]}x{native[1]}: fix whichever "
            "of the two files is wrong, or export with --dynamic-resolution to accept any size"
        )
