"""The model configs of a repository, as data (dicts shaped like ``inference.ModelConfig``).

Tensor names, dtypes and dims come from the artifact's manifest (the graph records): the batch axis is
Triton's (``max_batch_size`` > 0), any other named (dynamic) axis becomes -1. Every model gets the same
scheduling: ``max_batch_size``, ``dynamic_batching`` (queue delay, preferred sizes) and
``instance_group`` (the python pre/post-processing models always on CPU; the engine on ``--kind``).
The ensemble carries the task, labels, top-k and version as parameters for clients
(``beit_runtime.triton.protocol``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from beit_runtime.manifest import Manifest
from beit_runtime.triton import protocol

from .options import TritonOptionsError, TritonRepositoryOptions

TRITON_TYPES = {"float32": "TYPE_FP32", "float16": "TYPE_FP16", "int64": "TYPE_INT64", "int32": "TYPE_INT32",
                "int8": "TYPE_INT8", "uint8": "TYPE_UINT8", "bool": "TYPE_BOOL"}
Config = dict[str, Any]


def tensor(name: str, data_type: str, dims: list[int]) -> Config:
    return {"name": name, "data_type": data_type, "dims": list(dims)}


def graph_tensor(record: Mapping[str, Any]) -> Config:
    """A manifest tensor record (shape with "batch" first) as a Triton tensor (dims without the batch)."""
    if record["dtype"] not in TRITON_TYPES:
        raise TritonOptionsError(f"graph tensor '{record['name']}' has dtype {record['dtype']}, which Triton configs here do not map")
    dims = [dim if isinstance(dim, int) else -1 for dim in record["shape"][1:]]
    return tensor(record["name"], TRITON_TYPES[record["dtype"]], dims)


def graph_tensors(manifest: Manifest, variant: str, side: str) -> list[Config]:
    return [graph_tensor(record) for record in manifest.graphs[variant][side]]


def scheduling(options: TritonRepositoryOptions, *, kind: str = "cpu") -> Config:
    batching: Config = {"max_queue_delay_microseconds": options.max_queue_delay_us}
    if options.preferred_batch_sizes:
        batching["preferred_batch_size"] = list(options.preferred_batch_sizes)
    return {"max_batch_size": options.max_batch_size, "dynamic_batching": batching,
            "instance_group": [{"kind": f"KIND_{kind.upper()}", "count": options.instances}]}


def python_model(name: str, inputs: list[Config], outputs: list[Config], options: TritonRepositoryOptions,
                 *, parameters: Mapping[str, str] = (), kind: str = "cpu") -> Config:
    config: Config = {"name": name, "backend": "python", "input": inputs, "output": outputs, **scheduling(options, kind=kind)}
    values = dict(parameters)
    if options.execution_env:
        values["EXECUTION_ENV_PATH"] = options.execution_env
    if values:
        config["parameters"] = {key: {"string_value": str(value)} for key, value in values.items()}
    return config


def pixel_input(manifest: Manifest, options: TritonRepositoryOptions) -> Config:
    specs = [spec for spec in graph_tensors(manifest, options.precision, "inputs") if spec["name"] == protocol.PIXEL_VALUES]
    if not specs:
        raise TritonOptionsError(f"the {options.precision} graph of {manifest.folder} has no '{protocol.PIXEL_VALUES}' input")
    return specs[0]


def preprocess_config(names: Mapping[str, str], manifest: Manifest, options: TritonRepositoryOptions) -> Config:
    pixels = {**pixel_input(manifest, options), "data_type": "TYPE_FP32"}
    return python_model(names["preprocess"], [tensor(protocol.IMAGE_INPUT, "TYPE_STRING", [1])],
                        [pixels, tensor(protocol.ORIGINAL_SIZE, "TYPE_INT32", [2])], options)


def postprocess_io(manifest: Manifest, options: TritonRepositoryOptions) -> tuple[list[Config], list[Config]]:
    """(inputs, outputs) of NAME_postprocess for the artifact's task."""
    engine_outputs = {spec["name"]: spec for spec in graph_tensors(manifest, options.precision, "outputs")}
    task = manifest.task
    if task == "image-classification":
        k = min(options.top_k, int(engine_outputs["logits"]["dims"][-1]))
        return [engine_outputs["logits"]], [tensor("labels", "TYPE_STRING", [k]), tensor("scores", "TYPE_FP32", [k]),
                                           tensor("class_ids", "TYPE_INT32", [k])]
    if task == "semantic-segmentation":
        return ([engine_outputs["logits"], tensor(protocol.ORIGINAL_SIZE, "TYPE_INT32", [2])],
                [tensor(protocol.SEGMENTATION_OUTPUT, "TYPE_INT32", [-1, -1])])
    inputs = [engine_outputs[name] for name in protocol.backbone_inputs(manifest.graphs)]
    width = int(engine_outputs[inputs[0]["name"]]["dims"][-1])
    return inputs, [tensor(protocol.EMBEDDING_OUTPUT, "TYPE_FP32", [width])]


def postprocess_config(names: Mapping[str, str], manifest: Manifest, options: TritonRepositoryOptions) -> Config:
    inputs, outputs = postprocess_io(manifest, options)
    parameters = {protocol.PARAMETER_TOP_K: str(outputs[0]["dims"][0])} if manifest.task == "image-classification" else {}
    return python_model(names["postprocess"], inputs, outputs, options, parameters=parameters)


def ensemble_config(names: Mapping[str, str], manifest: Manifest, options: TritonRepositoryOptions, *, version: str) -> Config:
    """The model clients call: image -> preprocess -> engine -> postprocess -> the task's outputs."""
    post_inputs, post_outputs = postprocess_io(manifest, options)
    engine_outputs = [spec["name"] for spec in post_inputs if spec["name"] != protocol.ORIGINAL_SIZE]
    preprocess_outputs = [protocol.PIXEL_VALUES] + ([protocol.ORIGINAL_SIZE] if manifest.task == "semantic-segmentation" else [])
    steps = [
        _step(names["preprocess"], {protocol.IMAGE_INPUT: protocol.IMAGE_INPUT}, preprocess_outputs),
        _step(names["engine"], {protocol.PIXEL_VALUES: protocol.PIXEL_VALUES}, engine_outputs),
        _step(names["postprocess"], {spec["name"]: spec["name"] for spec in post_inputs}, [s["name"] for s in post_outputs]),
    ]
    parameters = {protocol.PARAMETER_TASK: manifest.task, protocol.PARAMETER_VERSION: version,
                  protocol.PARAMETER_LABELS: json.dumps({str(k): v for k, v in manifest.labels.items()}, ensure_ascii=False)}
    if manifest.task == "image-classification":
        parameters[protocol.PARAMETER_TOP_K] = str(post_outputs[0]["dims"][0])
    return {"name": names["ensemble"], "platform": "ensemble", "max_batch_size": options.max_batch_size,
            "input": [tensor(protocol.IMAGE_INPUT, "TYPE_STRING", [1])], "output": post_outputs,
            "ensemble_scheduling": {"step": steps},
            "parameters": {key: {"string_value": value} for key, value in parameters.items()}}


def _step(model: str, input_map: Mapping[str, str], outputs: list[str]) -> Config:
    return {"model_name": model, "model_version": -1, "input_map": dict(input_map),
            "output_map": {name: name for name in outputs}}
