"""The export pipeline: checkpoint -> graph(s) -> checks -> parity -> manifest -> artifact folder.

Every step writes into a staging folder beside ``output`` (``beit_export.artifact``); the folder
appears under its name only when everything passed, so a failure (parity, graph check, Ctrl-C)
leaves nothing behind.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnx
import torch

from beit_runtime.errors import BackendUnavailableError

from .artifact import check_output, graph_entry, refresh_file_records, staged_artifact, write_manifest
from .errors import ExportError
from .modeling import config_image_size
from .parity import build_cases, check_parity, check_postprocess_parity
from .tasks import resolve_task_spec

Progress = Callable[[str], None]
MODEL_FILE = "model.onnx"
VARIANT_FILES = {"fp32": "model.onnx", "fp16": "model.fp16.onnx", "int8": "model.int8.onnx",
                 "postprocess": "postprocess.onnx"}
INT8_MODES = ("static", "dynamic")


def _silent(message: str) -> None:
    del message


def export_artifact(checkpoint, *, output: str | Path, fp16: bool = False, int8: bool = False,
                    int8_mode: str = "static", tensorrt: bool = False, dynamic_resolution: bool = False,
                    opset: int = 18, overwrite: bool = False, seed: int = 0, photos: bool = True,
                    progress: Progress | None = None) -> Path:
    """Export ``checkpoint`` (a ``LoadedCheckpoint``) to the artifact folder ``output``; returns its path."""
    progress = progress or _silent
    output = check_output(Path(output), overwrite=overwrite)
    _check_options(checkpoint, opset=opset, int8_mode=int8_mode, tensorrt=tensorrt,
                   dynamic_resolution=dynamic_resolution)
    with staged_artifact(output, overwrite=overwrite) as folder:
        state = _State(checkpoint=checkpoint, folder=folder, opset=opset, dynamic_resolution=dynamic_resolution,
                       int8_mode=int8_mode, progress=progress)
        _export_fp32(state)
        progress("building parity cases (random inputs and scikit-image photos through the HF processor)")
        state.cases = build_cases(checkpoint, dynamic_resolution=dynamic_resolution, seed=seed, photos=photos)
        _verify(state, "fp32")
        if fp16:
            _reduced_precision(state, "fp16", lambda src, dst: _precision().convert_to_fp16(src, dst))
        if int8:
            _reduced_precision(state, "int8", lambda src, dst: _quantize(state, src, dst, int8_mode))
        if checkpoint.task == "semantic-segmentation":
            _postprocess_graph(state)
        _tensorrt_compatibility(state, strict=tensorrt)
        progress("writing manifest.json")
        write_manifest(folder, _manifest_fields(state))
        if tensorrt:
            _build_engine(state, "fp16" if fp16 else "fp32")
        progress(f"moving the artifact into place at {output}")
    return output


class _State:
    """What the steps share: the checkpoint, the staging folder, and the graphs/parity so far."""

    def __init__(self, *, checkpoint, folder: Path, opset: int, dynamic_resolution: bool, int8_mode: str,
                 progress: Progress):
        self.checkpoint, self.folder, self.opset, self.int8_mode = checkpoint, folder, opset, int8_mode
        self.dynamic_resolution, self.progress = dynamic_resolution, progress
        self.task_spec = resolve_task_spec(checkpoint.model, checkpoint.task)
        self.graphs: dict[str, dict[str, Any]] = {}
        self.parity: dict[str, dict[str, Any]] = {}
        self.notes: dict[str, str] = {}
        self.tensorrt: dict[str, Any] = {}
        self.cases: list = []


def _precision():
    from . import precision

    return precision


def _check_options(checkpoint, *, opset: int, int8_mode: str, tensorrt: bool, dynamic_resolution: bool) -> None:
    if opset < 18:
        raise ExportError(f"--opset {opset} is too old: LayerNormalization and the exporter need opset >= 18")
    if int8_mode not in INT8_MODES:
        raise ExportError(f"int8 mode must be one of {INT8_MODES}, got {int8_mode!r}")
    if tensorrt and importlib.util.find_spec("tensorrt") is None:
        raise BackendUnavailableError(
            "--tensorrt builds an engine here and needs TensorRT: install `beit-deploy[tensorrt]` on a CUDA "
            "machine, or export without --tensorrt and run `beit-export build-engine FOLDER` on the target GPU"
        )
    _check_preprocessing_size(checkpoint, dynamic_resolution=dynamic_resolution)


def _check_preprocessing_size(checkpoint, *, dynamic_resolution: bool) -> None:
    recipe = checkpoint.preprocessing
    produced = recipe["crop_size"] if recipe["do_center_crop"] else recipe["size"]
    native = config_image_size(checkpoint.config)
    if dynamic_resolution:
        return
    if (produced.get("height"), produced.get("width")) != native:
        raise ExportError(
            f"the checkpoint's image processor produces {produced} images but a fixed-resolution graph takes "
            f"{native[0]}x{native[1]}; export with --dynamic-resolution or fix preprocessor_config.json"
        )




def _example_inputs(state: _State) -> tuple[torch.Tensor, ...]:
    config = state.checkpoint.config
    height, width = config_image_size(config)
    generator = torch.Generator().manual_seed(1234)
    pixels = torch.randn((2, int(getattr(config, "num_channels", 3)), height, width), generator=generator)
    if len(state.task_spec.inputs) == 1:
        return (pixels,)
    patches = (height // config.patch_size) * (width // config.patch_size)
    return pixels, torch.rand((2, patches), generator=generator) < 0.4


def _export_fp32(state: _State) -> None:
    from .modeling import make_export_module
    from .onnx_export import export_onnx

    checkpoint, path = state.checkpoint, state.folder / MODEL_FILE
    state.progress(f"exporting {checkpoint.task} graph (opset {state.opset}, "
                   f"{'dynamic' if state.dynamic_resolution else 'fixed'} resolution)")
    module = make_export_module(checkpoint.model, task=checkpoint.task, dynamic_resolution=state.dynamic_resolution)
    export_onnx(module, task_spec=state.task_spec, path=path, example_inputs=_example_inputs(state),
                dynamic_resolution=state.dynamic_resolution, opset=state.opset)
    state.progress("checking the graph: passed onnx.checker (full) and the index-building check during export")
    state.notes["fp32"] = _graph_summary(path)
    state.graphs["fp32"] = graph_entry(state.folder, MODEL_FILE, precision="fp32", opset=state.opset,
                                       notes=state.notes["fp32"])


def _graph_summary(path: Path) -> str:
    from .graph_checks import op_histogram

    proto = onnx.load(str(path), load_external_data=False)
    ops = op_histogram(proto)
    top = ", ".join(f"{name} {count}" for name, count in ops.most_common(8))
    return f"{sum(ops.values())} nodes ({top})"


def _verify(state: _State, variant: str) -> None:
    state.progress(f"parity check of the {variant} graph on ONNX Runtime vs PyTorch ({len(state.cases)} cases)")
    state.parity[variant] = check_parity(state.folder / VARIANT_FILES[variant], state.checkpoint,
                                         precision=variant, cases=state.cases)


def _reduced_precision(state: _State, variant: str, convert: Callable[[Path, Path], dict]) -> None:
    state.progress(f"writing the {variant} graph")
    report = convert(state.folder / MODEL_FILE, state.folder / VARIANT_FILES[variant])
    notes = str(report.get("notes") or "")
    state.graphs[variant] = graph_entry(state.folder, VARIANT_FILES[variant], precision=variant,
                                        opset=state.opset, notes=notes)
    _verify(state, variant)
    state.parity[variant]["conversion"] = {k: v for k, v in report.items() if k != "notes"}


def _quantize(state: _State, src: Path, dst: Path, mode: str) -> dict:
    precision = _precision()
    if mode == "dynamic":
        return precision.quantize_int8_dynamic(src, dst)
    batches = [case.feeds for case in state.cases if case.name.startswith("photos")]
    batches = batches or [case.feeds for case in state.cases[:1]]
    report = precision.quantize_int8_static(src, dst, calibration_batches=batches)
    report["calibration_data"] = "scikit-image photos preprocessed by the checkpoint's HF image processor"
    return report


def _postprocess_graph(state: _State) -> None:
    from .postprocess_graph import build_segmentation_postprocess

    state.progress("writing the segmentation post-processing graph (bilinear upsample + argmax)")
    num_labels = int(state.checkpoint.config.num_labels)
    proto = build_segmentation_postprocess(num_labels=num_labels, opset=state.opset)
    path = state.folder / VARIANT_FILES["postprocess"]
    onnx.save(proto, str(path))
    onnx.checker.check_model(str(path), full_check=True)
    state.graphs["postprocess"] = graph_entry(state.folder, path.name, precision="fp32", opset=state.opset,
                                              role="postprocess", notes="logits -> bilinear resize -> argmax")
    state.parity["postprocess"] = check_postprocess_parity(path, state.cases)


def _tensorrt_compatibility(state: _State, *, strict: bool) -> None:
    from .tensorrt_compat import check_tensorrt_compatibility, tensorrt_compatibility_report

    for variant in state.graphs:
        path = state.folder / VARIANT_FILES[variant]
        for_tensorrt = not (variant == "int8" and state.int8_mode == "dynamic")  # dynamic int8 is ORT-only
        if strict and for_tensorrt:
            state.progress(f"checking TensorRT compatibility of the {variant} graph")
            state.tensorrt[variant] = check_tensorrt_compatibility(path)
        else:
            state.tensorrt[variant] = tensorrt_compatibility_report(path)


def _build_engine(state: _State, variant: str) -> None:
    from .tensorrt_build import build_engine

    state.progress(f"building the TensorRT engine from the {variant} graph (minutes)")
    build_engine(state.folder, graph_variant=variant)
    refresh_file_records(state.folder)


def _input_record(state: _State) -> dict[str, Any]:
    height, width = config_image_size(state.checkpoint.config)
    return {"height": height, "width": width, "patch_size": int(state.checkpoint.config.patch_size),
            "dynamic_batch": True, "dynamic_resolution": state.dynamic_resolution,
            "num_channels": int(getattr(state.checkpoint.config, "num_channels", 3))}


def _postprocessing_record(state: _State) -> dict[str, Any]:
    if state.checkpoint.task != "semantic-segmentation":
        return {}
    from .postprocess_graph import segmentation_postprocessing_record

    record = segmentation_postprocessing_record(num_labels=int(state.checkpoint.config.num_labels))
    case = state.cases[0]  # the stride as measured on the model (patch_size / 4 for UperNet), not assumed
    record["logits_stride"] = int(case.feeds["pixel_values"].shape[-1] // case.reference["logits"].shape[-1])
    return record


def _manifest_fields(state: _State) -> dict[str, Any]:
    checkpoint = state.checkpoint
    return {
        "task": checkpoint.task,
        "source": checkpoint.source,
        "input": _input_record(state),
        "preprocessing": checkpoint.preprocessing,
        "labels": checkpoint.labels,
        "graphs": state.graphs,
        "engines": {},
        "postprocessing": _postprocessing_record(state),
        "parity": state.parity,
        "export": {"opset": state.opset, "dynamic_resolution": state.dynamic_resolution,
                   "tensorrt_compatibility": state.tensorrt},
    }
