"""The model configs of a repository, as data (dicts shaped like ``inference.ModelConfig``).

Tensor names, dtypes and dims come from the artifact's manifest (the graph records): the batch axis is
Triton's (``max_batch_size`` > 0), any other named (dynamic) axis becomes -1. What the ensemble
returns is the task registry's ``Task.served_outputs`` (``beit_runtime.tasks``): dims "k" are the
top-k, "H"/"W" the image's own size (-1, and the ensemble feeds ``original_size`` to post-processing),
"D" the embedding width. Every model gets the same scheduling: ``max_batch_size``, ``dynamic_batching``
(queue delay, preferred sizes) and ``instance_group`` (the python pre/post-processing models always
on CPU; the engine on ``--kind``). The ensemble carries the task, labels, top-k and version as
parameters for clients (``beit_runtime.serving_protocol``). An artifact exported with ``--outputs`` also
has its optional graph outputs (``Task.optional_outputs``: ``hidden_states``, ``attentions``) passed from
the engine straight to the ensemble's outputs: Triton sends an output only to a client that asks for it
by name, so other clients receive what they did before. ``PARAMETER_LAYER_OUTPUTS`` tells clients which
are served and how to place attention maps (patch size, preprocessing recipe).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from beit_runtime import serving_protocol as protocol
from beit_runtime.manifest import Manifest, TensorRecord
from beit_runtime.tasks import ServedTensor, task

from .options import TritonOptionsError, TritonRepositoryOptions, served_max_image_pixels

TRITON_TYPES = {"float32": "TYPE_FP32", "float16": "TYPE_FP16", "int64": "TYPE_INT64", "int32": "TYPE_INT32",
                "int8": "TYPE_INT8", "uint8": "TYPE_UINT8", "bool": "TYPE_BOOL"}
Config = dict[str, Any]


def tensor(name: str, data_type: str, dims: list[int]) -> Config:
    return {"name": name, "data_type": data_type, "dims": list(dims)}


def graph_tensor(record: TensorRecord) -> Config:
    """A manifest tensor record (shape with "batch" first) as a Triton tensor (dims without the batch)."""
    if record.dtype not in TRITON_TYPES:
        raise TritonOptionsError(f"graph tensor '{record.name}' has dtype {record.dtype}, which Triton configs here "
                                 f"do not map (they map {', '.join(TRITON_TYPES)}); re-export the artifact")
    dims = [dim if isinstance(dim, int) else -1 for dim in record.shape[1:]]
    return tensor(record.name, TRITON_TYPES[record.dtype], dims)


def graph_tensors(manifest: Manifest, variant: str, side: str) -> list[Config]:
    graph = manifest.graphs[variant]
    return [graph_tensor(record) for record in (graph.inputs if side == "inputs" else graph.outputs)]


def scheduling(options: TritonRepositoryOptions, *, kind: str = "cpu") -> Config:
    batching: Config = {"max_queue_delay_microseconds": options.max_queue_delay_us}
    if options.preferred_batch_sizes:
        batching["preferred_batch_size"] = list(options.preferred_batch_sizes)
    return {"max_batch_size": options.max_batch_size, "dynamic_batching": batching,
            "instance_group": [{"kind": f"KIND_{kind.upper()}", "count": options.instances}]}


def python_model(name: str, inputs: list[Config], outputs: list[Config], options: TritonRepositoryOptions,
                 *, parameters: Mapping[str, str] | None = None, kind: str = "cpu") -> Config:
    config: Config = {"name": name, "backend": "python", "input": inputs, "output": outputs,
                      **scheduling(options, kind=kind)}
    values = dict(parameters or {})
    if options.execution_env:
        values["EXECUTION_ENV_PATH"] = options.execution_env
    if values:
        config["parameters"] = {key: {"string_value": str(value)} for key, value in values.items()}
    return config


def pixel_input(manifest: Manifest, options: TritonRepositoryOptions) -> Config:
    inputs = graph_tensors(manifest, options.graph_variant, "inputs")
    specs = [spec for spec in inputs if spec["name"] == protocol.PIXEL_VALUES]
    if not specs:
        raise TritonOptionsError(f"the {options.graph_variant} graph of {manifest.folder} has no "
                                 f"'{protocol.PIXEL_VALUES}' input; re-export the artifact")
    return specs[0]


def preprocess_config(names: Mapping[str, str], manifest: Manifest, options: TritonRepositoryOptions) -> Config:
    pixels = {**pixel_input(manifest, options), "data_type": "TYPE_FP32"}
    largest = str(served_max_image_pixels(manifest, options))
    return python_model(names["preprocess"], [tensor(protocol.IMAGE_INPUT, "TYPE_STRING", [1])],
                        [pixels, tensor(protocol.ORIGINAL_SIZE, "TYPE_INT32", [2])], options,
                        parameters={protocol.PARAMETER_MAX_IMAGE_PIXELS: largest})


def served_tensor(served: ServedTensor, *, top_k: int, width: int) -> Config:
    """One ensemble output from the registry: "k" -> the top-k, "H"/"W" -> -1 (any size), "D" -> ``width``."""
    sizes = {protocol.TOP_K_DIM: top_k, "H": -1, "W": -1, "D": width}
    return tensor(served.name, f"TYPE_{served.datatype}", [sizes[dim] for dim in served.dims])


def postprocess_io(manifest: Manifest, options: TritonRepositoryOptions) -> tuple[list[Config], list[Config]]:
    """(inputs, outputs) of NAME_postprocess for the artifact's task."""
    entry = task(manifest.task)
    engine_outputs = {spec["name"]: spec for spec in graph_tensors(manifest, options.graph_variant, "outputs")}
    inputs = [engine_outputs[name] for name in protocol.postprocess_inputs(entry, list(engine_outputs))]
    width = int(inputs[0]["dims"][-1])  # classes of the logits, or the embedding's width
    outputs = [served_tensor(served, top_k=min(options.top_k, width), width=width) for served in entry.served_outputs]
    if protocol.at_image_size(entry):
        inputs.append(tensor(protocol.ORIGINAL_SIZE, "TYPE_INT32", [2]))
    return inputs, outputs


def served_top_k(manifest: Manifest, options: TritonRepositoryOptions) -> dict[str, str]:
    """The top-k parameter for a task whose outputs are top-k lists (the classes actually returned), else none."""
    if not protocol.has_top_k(task(manifest.task)):
        return {}
    _, outputs = postprocess_io(manifest, options)
    return {protocol.PARAMETER_TOP_K: str(outputs[0]["dims"][0])}


def postprocess_config(names: Mapping[str, str], manifest: Manifest, options: TritonRepositoryOptions) -> Config:
    inputs, outputs = postprocess_io(manifest, options)
    parameters = {**served_top_k(manifest, options),
                  protocol.PARAMETER_MAX_IMAGE_PIXELS: str(served_max_image_pixels(manifest, options))}
    return python_model(names["postprocess"], inputs, outputs, options, parameters=parameters)


def optional_outputs(manifest: Manifest, options: TritonRepositoryOptions) -> list[Config]:
    """The graph's optional outputs (``--outputs``), as ensemble outputs (the engine's own tensors)."""
    offered = {spec.name for spec in task(manifest.task).optional_outputs}
    return [spec for spec in graph_tensors(manifest, options.graph_variant, "outputs") if spec["name"] in offered]


def layer_outputs_parameter(manifest: Manifest, served: list[Config]) -> dict[str, str]:
    """``PARAMETER_LAYER_OUTPUTS`` when optional outputs are served: what they hold and how to draw maps."""
    if not served:
        return {}
    record = dict(manifest.export.extra_outputs or {}) if manifest.export is not None else {}
    value = {"outputs": [spec["name"] for spec in served], "attention_layers": list(record.get("attention_layers", [])),
             "num_layers": int(record.get("num_layers", 0)), "patch_size": manifest.input.patch_size,
             "preprocessing": manifest.preprocessing.to_json()}
    return {protocol.PARAMETER_LAYER_OUTPUTS: json.dumps(value)}


def ensemble_config(names: Mapping[str, str], manifest: Manifest, options: TritonRepositoryOptions,
                    *, version: str) -> Config:
    """The model clients call: image -> preprocess -> engine -> postprocess -> the task's outputs (and the
    optional outputs, straight from the engine, when the graph has them)."""
    post_inputs, post_outputs = postprocess_io(manifest, options)
    served = optional_outputs(manifest, options)
    engine_outputs = [spec["name"] for spec in post_inputs if spec["name"] != protocol.ORIGINAL_SIZE]
    engine_outputs += [spec["name"] for spec in served if spec["name"] not in engine_outputs]
    sizes = [protocol.ORIGINAL_SIZE] if protocol.at_image_size(task(manifest.task)) else []
    steps = [
        _step(names["preprocess"], {protocol.IMAGE_INPUT: protocol.IMAGE_INPUT}, [protocol.PIXEL_VALUES, *sizes]),
        _step(names["engine"], {protocol.PIXEL_VALUES: protocol.PIXEL_VALUES}, engine_outputs),
        _step(names["postprocess"], {spec["name"]: spec["name"] for spec in post_inputs},
              [spec["name"] for spec in post_outputs]),
    ]
    labels = json.dumps({str(k): v for k, v in manifest.labels.items()}, ensure_ascii=False)
    parameters = {protocol.PARAMETER_TASK: manifest.task, protocol.PARAMETER_VERSION: version,
                  protocol.PARAMETER_LABELS: labels, **served_top_k(manifest, options),
                  **layer_outputs_parameter(manifest, served)}
    return {"name": names["ensemble"], "platform": "ensemble", "max_batch_size": options.max_batch_size,
            "input": [tensor(protocol.IMAGE_INPUT, "TYPE_STRING", [1])], "output": post_outputs + served,
            "ensemble_scheduling": {"step": steps},
            "parameters": {key: {"string_value": value} for key, value in parameters.items()}}


def _step(model: str, input_map: Mapping[str, str], outputs: list[str]) -> Config:
    return {"model_name": model, "model_version": -1, "input_map": dict(input_map),
            "output_map": {name: name for name in outputs}}
