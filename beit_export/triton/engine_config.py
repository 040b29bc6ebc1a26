"""``NAME_engine``'s config for each ``--model-backend``, and the files it needs.

- ``onnxruntime``: ``platform: "onnxruntime_onnx"`` on the graph of ``--precision`` (copied with its
  external data, ``default_model_filename`` keeping its own name so the external-data locations inside
  it still resolve). ``--kind gpu`` adds the TensorRT execution-provider accelerator block (FP16 for
  ``--precision fp16``, INT8 for the QDQ int8 graph); ONNX Runtime falls back to CUDA/CPU for what
  TensorRT does not take. ``--fused-attention`` serves the fp16-fused graph on the CUDA provider
  itself (its contrib ops are ONNX Runtime's, so no TensorRT accelerator is configured).
- ``tensorrt``: ``platform: "tensorrt_plan"`` on the artifact's plan for ``--precision`` (built by
  ``beit-export build-engine`` on the serving GPU); its optimisation profile must cover ``--max-batch-size``.
- ``python``: beit_runtime's own task class in Triton's python backend, on the whole artifact copied
  into the model (every hash checked at load); for Triton builds without the onnxruntime backend.
"""

from __future__ import annotations

from collections.abc import Mapping

from beit_runtime import serving_protocol as protocol
from beit_runtime.manifest import Manifest

from .configs import Config, graph_tensors, python_model, scheduling
from .options import TritonOptionsError, TritonRepositoryOptions

TENSORRT_PRECISION_MODES = {"fp32": "FP32", "fp16": "FP16", "int8": "INT8"}
PLAN_FILE = "model.plan"


def engine_config(names: Mapping[str, str], manifest: Manifest, options: TritonRepositoryOptions) -> Config:
    inputs = graph_tensors(manifest, options.graph_variant, "inputs")
    outputs = graph_tensors(manifest, options.graph_variant, "outputs")
    name = names["engine"]
    if options.model_backend == "python":
        parameters = {protocol.PARAMETER_PRECISION: options.precision,
                      protocol.PARAMETER_INTRA_OP_THREADS: str(options.intra_op_threads)}
        if options.fused_attention:
            parameters[protocol.PARAMETER_FUSED_ATTENTION] = "true"
        if options.plan is not None:
            parameters[protocol.PARAMETER_PLAN] = protocol.PLAN_FILE
        return python_model(name, inputs, outputs, options, parameters=parameters, kind=options.kind)
    _check_float_io(inputs + outputs, manifest, options)
    config: Config = {"name": name, "input": inputs, "output": outputs, **scheduling(options, kind=options.kind)}
    if options.model_backend == "tensorrt":
        check_plan_profile(manifest, options)
        return {**config, "platform": "tensorrt_plan", "default_model_filename": PLAN_FILE}
    config.update(platform="onnxruntime_onnx", default_model_filename=manifest.graphs[options.graph_variant].file)
    if options.intra_op_threads:
        config["parameters"] = {"intra_op_thread_count": {"string_value": str(options.intra_op_threads)}}
    if options.kind == "gpu" and not options.fused_attention:  # contrib ops: CUDA EP, not TensorRT EP
        precision_mode = TENSORRT_PRECISION_MODES[options.graph_variant]
        accelerator = {"name": "tensorrt", "parameters": {"precision_mode": precision_mode,
                                                           "max_workspace_size_bytes": str(4 << 30)}}
        config["optimization"] = {"execution_accelerators": {"gpu_execution_accelerator": [accelerator]}}
    return config


def _check_float_io(tensors: list[Config], manifest: Manifest, options: TritonRepositoryOptions) -> None:
    """The ensemble feeds FP32 pixel values: a graph that takes another float type needs the python backend."""
    for spec in tensors:
        if spec["data_type"] == "TYPE_FP16":
            raise TritonOptionsError(
                f"the {options.graph_variant} graph of {manifest.folder} has fp16 tensor '{spec['name']}'; "
                "use --model-backend python (it casts as the runtime does) or another --precision"
            )


def check_plan_profile(manifest: Manifest, options: TritonRepositoryOptions) -> None:
    """A plan for ``--precision`` exists and its profile takes ``--max-batch-size`` images."""
    if options.graph_variant not in manifest.engines:
        raise TritonOptionsError(
            f"artifact {manifest.folder} has no {options.graph_variant} TensorRT plan; "
            "build one on the serving GPU with "
            f"`beit-export build-engine {manifest.folder} --graph {options.graph_variant} "
            f"--max-batch {options.max_batch_size}`"
        )
    pixels = manifest.engines[options.graph_variant].profile.get(protocol.PIXEL_VALUES)
    largest = pixels.max if pixels is not None and pixels.max else (0,)
    if int(largest[0]) < options.max_batch_size:
        raise TritonOptionsError(
            f"the {options.graph_variant} plan of {manifest.folder} takes at most {largest[0]} images per batch, "
            "less than "
            f"--max-batch-size {options.max_batch_size}; lower it or rebuild with --max-batch {options.max_batch_size}"
        )


def engine_files(manifest: Manifest, options: TritonRepositoryOptions) -> dict[str, str]:
    """{name inside the version folder: artifact file name} for the onnxruntime and tensorrt backends."""
    if options.model_backend == "tensorrt":
        return {PLAN_FILE: manifest.engines[options.graph_variant].file}
    record = manifest.graphs[options.graph_variant]
    return {name: name for name in [record.file, *record.external_data]}
