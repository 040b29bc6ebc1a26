"""The export pipeline: checkpoint -> graph(s) -> checks -> parity -> manifest -> artifact folder.

Every step writes into a staging folder beside ``output`` (``beit_export.artifact``); the folder
appears under its name only when everything passed, so a failure (parity, graph check, Ctrl-C)
leaves nothing behind. What to export is an ``ExportOptions`` (``beit_export.options``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from beit_runtime.manifest import GraphRecord

from .artifact import graph_entry, staged_artifact, write_export_manifest
from .errors import ParityError
from .gpu_graphs import GPU_VARIANT_FILES, ONNXRUNTIME_ONLY, write_fused_attention, write_uint8_inputs
from .graph import build_segmentation_postprocess, export_onnx, graph_summary, segmentation_postprocessing_record
from .modeling import config_image_size, make_export_module, special_tokens
from .modeling.outputs import extended_task_spec
from .options import ExportOptions
from .outputs import export_extra_outputs, record_of
from .parity import build_cases, check_parity, check_postprocess_parity, engine_failures, engine_parity
from .parity.gate import calibration_advice
from .parity.user_images import UserImages, grouped_batches, preprocessed, read_user_images
from .precision import HEAD_CONVOLUTION_CHOICES, convert_to_fp16, quantize_int8_dynamic, quantize_int8_static
from .preflight import check_before_export
from .tasks import base_model, resolve_task_spec, score_function
from .tensorrt import TensorRTBuildOptions, build_engine, check_tensorrt_compatibility, tensorrt_compatibility_report

Progress = Callable[[str], None]
MODEL_FILE = "model.onnx"
VARIANT_FILES = {"fp32": "model.onnx", "fp16": "model.fp16.onnx", "int8": "model.int8.onnx",
                 "postprocess": "postprocess.onnx", **GPU_VARIANT_FILES}


def _silent(message: str) -> None:
    del message


def export_artifact(checkpoint, *, output: str | Path, options: ExportOptions | None = None,
                    progress: Progress | None = None) -> Path:
    """Export ``checkpoint`` (a ``LoadedCheckpoint``) to the artifact folder ``output``; returns its path."""
    options = options or ExportOptions()
    progress = progress or _silent
    output = check_before_export(checkpoint, output=Path(output), options=options)
    for note in getattr(checkpoint, "notes", ()):
        progress(note)
    with staged_artifact(output, overwrite=options.overwrite, progress=progress) as folder:
        state = _State(checkpoint=checkpoint, folder=folder, output=output, options=options, progress=progress)
        _export_fp32(state)
        _read_user_images(state)
        progress("building parity cases (random inputs and scikit-image photos through the HF processor)")
        state.cases = build_cases(checkpoint, dynamic_resolution=options.dynamic_resolution, seed=options.seed,
                                  photos=options.photos, user_batches=state.user_parity_batches,
                                  extra_outputs=state.extra)
        _verify(state, "fp32")
        if options.fp16:
            _reduced_precision(state, "fp16", convert_to_fp16)
        if options.int8:
            _int8(state)
        if options.fused_attention:
            write_fused_attention(state)
        if options.uint8_input:
            write_uint8_inputs(state)
        if state.task_spec.postprocess_graph:
            _postprocess_graph(state)
        _tensorrt_compatibility(state)
        progress("writing manifest.json")
        write_export_manifest(folder, _manifest_fields(state))
        if options.tensorrt:
            _build_engine(state, "fp16" if options.fp16 else "fp32")
        progress(f"moving the artifact into place at {output}")
    return output


class _State:
    """What the steps share: the checkpoint, the options, the staging folder, and the graphs/parity so far."""

    def __init__(self, *, checkpoint, folder: Path, output: Path, options: ExportOptions, progress: Progress):
        self.checkpoint, self.folder, self.options, self.progress = checkpoint, folder, options, progress
        self.output = output  # the final artifact path, named in messages instead of the staging folder
        self.extra = export_extra_outputs(checkpoint, options)  # --outputs (None: the default graph)
        self.task_spec = extended_task_spec(resolve_task_spec(checkpoint.model, checkpoint.task), self.extra)
        self.graphs: dict[str, GraphRecord] = {}
        self.parity: dict[str, dict[str, Any]] = {}
        self.tensorrt: dict[str, Any] = {}
        self.cases: list = []
        self.quantized_convolutions = 0
        self.calibration_feeds: list[dict[str, np.ndarray]] = []  # the user's images, one per feed
        self.user_parity_batches: list[np.ndarray] = []
        self.user_data: dict[str, Any] = {}  # the manifest's record of them (counts and digests)


def _read_user_images(state: _State) -> None:
    """The user's calibration and parity images (``--calibration-data``, ``--parity-data``), preprocessed."""
    options, checkpoint = state.options, state.checkpoint
    model_type = checkpoint.config.model_type
    if options.calibration_data is not None:
        state.progress(f"reading calibration images from {options.calibration_data}")
        images = read_user_images(options.calibration_data, size=options.calibration_size, purpose="calibration")
        _report_skipped(state, images, flag="--calibration-data")
        pixels = preprocessed(images, checkpoint.preprocessing, model_type=model_type)
        state.calibration_feeds = [{"pixel_values": item} for item in pixels]
        state.user_data["calibration"] = images.record
    if options.parity_folder is not None:
        state.progress(f"reading parity images from {options.parity_folder}")
        images = read_user_images(options.parity_folder, size=options.parity_size, purpose="parity")
        _report_skipped(state, images, flag="--parity-data" if options.parity_data else "--calibration-data")
        pixels = preprocessed(images, checkpoint.preprocessing, model_type=model_type)
        state.user_parity_batches = grouped_batches(pixels)
        state.user_data["parity_data"] = images.record


def _report_skipped(state: _State, images: UserImages, *, flag: str) -> None:
    for note in images.notes:
        state.progress(f"{flag}: {note}")
    record = images.record
    if record["skipped"]:
        state.progress(f"{flag}: using {record['images']} image(s); skipped {record['skipped']} unreadable file(s) "
                       "(unreadable or undecodable)")


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
    checkpoint, options, path = state.checkpoint, state.options, state.folder / MODEL_FILE
    state.progress(f"exporting {checkpoint.task} graph (opset {options.opset}, "
                   f"{'dynamic' if options.dynamic_resolution else 'fixed'} resolution)")
    module = make_export_module(checkpoint.model, task=checkpoint.task, dynamic_resolution=options.dynamic_resolution,
                                extra_outputs=state.extra)
    export_onnx(module, task_spec=state.task_spec, path=path, example_inputs=_example_inputs(state),
                dynamic_resolution=options.dynamic_resolution, opset=options.opset)
    state.progress("checking the graph: passed onnx.checker (full) and the index-building check during export")
    state.graphs["fp32"] = graph_entry(state.folder, MODEL_FILE, precision="fp32", opset=options.opset,
                                       notes=graph_summary(path))


def _verify(state: _State, variant: str) -> None:
    state.progress(f"parity check of the {variant} graph on ONNX Runtime vs PyTorch ({len(state.cases)} cases)")
    shown_as = state.output / VARIANT_FILES[variant]  # the staging folder is gone when the error is read
    state.parity[variant] = check_parity(state.folder / VARIANT_FILES[variant], state.checkpoint, precision=variant,
                                         cases=state.cases, shown_as=shown_as, **_parity_advice(state, variant))
    others = engine_parity(state.folder / VARIANT_FILES[variant], state.cases, task=state.checkpoint.task,
                           variant=variant, dynamic_int8=state.options.int8_mode == "dynamic")
    if others:
        state.progress(f"parity of the {variant} graph on other engines: " + ", ".join(
            f"{name} {_engine_status(record)}" for name, record in others.items()))
        state.parity[variant]["engines"] = others


def _parity_advice(state: _State, variant: str) -> dict[str, str]:
    """What to change when ``variant`` fails parity: for a calibrated int8 graph, the calibration images."""
    if variant != "int8" or state.options.int8_mode != "static":
        return {}
    return {"advice": calibration_advice(len(state.calibration_feeds) or None)}


def _engine_status(record: dict) -> str:
    if not record.get("measured"):
        return "not measured"
    return "passed" if record["passed"] else "FAILED (recorded; the runtime refuses this engine for this graph)"


def _reduced_precision(state: _State, variant: str, convert: Callable[[Path, Path], dict]) -> None:
    state.progress(f"writing the {variant} graph")
    report = convert(state.folder / MODEL_FILE, state.folder / VARIANT_FILES[variant])
    state.graphs[variant] = graph_entry(state.folder, VARIANT_FILES[variant], precision=variant,
                                        opset=state.options.opset, notes=str(report.get("notes") or ""))
    _verify(state, variant)
    state.parity[variant]["conversion"] = {k: v for k, v in report.items() if k != "notes"}


def _int8(state: _State) -> None:
    """int8; a static graph tries ``HEAD_CONVOLUTION_CHOICES`` in order (all head convolutions, all but the PSP/FPN
    bottlenecks, linear layers only) and keeps the first that passes parity on ONNX Runtime and every other engine."""
    rejected: dict[str, list[str]] = {}
    for choice in HEAD_CONVOLUTION_CHOICES:
        failures = _int8_attempt(state, choice)
        if not failures or not state.quantized_convolutions or choice == HEAD_CONVOLUTION_CHOICES[-1]:
            break
        rejected[choice] = failures[:3]
        state.progress(f"int8 with head convolutions '{choice}' failed parity; trying the next choice")
    if rejected:
        state.parity["int8"]["conversion"]["rejected_head_convolutions"] = rejected


def _int8_attempt(state: _State, choice: str) -> list[str]:
    """Write and check the int8 graph quantizing ``choice`` head convolutions; its parity failures on any engine."""
    try:
        _reduced_precision(state, "int8", functools.partial(_quantize, state, head_convolutions=choice))
    except ParityError as error:
        if not state.quantized_convolutions or choice == HEAD_CONVOLUTION_CHOICES[-1]:
            raise
        return list(error.report.get("failures", []))
    return engine_failures(state.parity["int8"].get("engines", {}))


def _quantize(state: _State, src: Path, dst: Path, *, head_convolutions: str) -> dict:
    if state.options.int8_mode == "dynamic":
        return quantize_int8_dynamic(src, dst)
    if state.calibration_feeds:
        batches = state.calibration_feeds
        source = (
            f"{len(batches)} of the user's images (--calibration-data) preprocessed by the checkpoint's HF processor"
        )
    else:
        batches = [case.feeds for case in state.cases if case.name.startswith("photos")]
        batches = batches or [case.feeds for case in state.cases[:1]]
        source = "scikit-image photos preprocessed by the checkpoint's HF image processor"
    report = quantize_int8_static(src, dst, calibration_batches=batches, head_convolutions=head_convolutions)
    report["calibration_data"] = source
    state.quantized_convolutions = report.get("quantized_convolutions", 0)
    return report


def _postprocess_graph(state: _State) -> None:
    state.progress("writing the segmentation post-processing graph (bilinear upsample + argmax)")
    num_labels = int(state.checkpoint.config.num_labels)
    proto = build_segmentation_postprocess(num_labels=num_labels, opset=state.options.opset)
    path = state.folder / VARIANT_FILES["postprocess"]
    onnx.save(proto, str(path))
    onnx.checker.check_model(str(path), full_check=True)
    state.graphs["postprocess"] = graph_entry(state.folder, path.name, precision="fp32", opset=state.options.opset,
                                              role="postprocess", notes="logits -> bilinear resize -> argmax")
    state.parity["postprocess"] = check_postprocess_parity(path, state.cases, shown_as=state.output / path.name)


def _tensorrt_compatibility(state: _State) -> None:
    options = state.options
    for variant in state.graphs:
        path = state.folder / VARIANT_FILES[variant]
        for_tensorrt = not (variant == "int8" and options.int8_mode == "dynamic")  # dynamic int8 is ORT-only
        for_tensorrt = for_tensorrt and variant not in ONNXRUNTIME_ONLY  # contrib ops
        if options.tensorrt and for_tensorrt:
            state.progress(f"checking TensorRT compatibility of the {variant} graph")
            state.tensorrt[variant] = check_tensorrt_compatibility(path)
        else:
            state.tensorrt[variant] = tensorrt_compatibility_report(path)


def _build_engine(state: _State, variant: str) -> None:
    state.progress(f"building the TensorRT engine from the {variant} graph (minutes)")
    build_engine(state.folder, options=TensorRTBuildOptions(graph_variant=variant))  # records it in the manifest


def _input_record(state: _State) -> dict[str, Any]:
    height, width = config_image_size(state.checkpoint.config)
    return {"height": height, "width": width, "patch_size": int(state.checkpoint.config.patch_size),
            "dynamic_batch": True, "dynamic_resolution": state.options.dynamic_resolution,
            "num_channels": int(getattr(state.checkpoint.config, "num_channels", 3)),
            "special_tokens": special_tokens(base_model(state.checkpoint.model).embeddings),
            "num_attention_heads": int(state.checkpoint.config.num_attention_heads)}


def _postprocessing_record(state: _State) -> dict[str, Any]:
    if state.task_spec.scored_logits:
        return {"score": score_function(state.checkpoint.config)}
    if not state.task_spec.postprocess_graph:
        return {}
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
        "export": {**state.options.record(), **state.user_data, **record_of(state.extra),
                   "tensorrt_compatibility": state.tensorrt},
    }
