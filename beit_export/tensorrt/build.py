"""Build a TensorRT engine for an exported artifact, on the machine that will run it.

``build_engine(artifact_dir, options=TensorRTBuildOptions(...))`` checks the graph statically
(``beit_export.tensorrt.compat``), parses it with TensorRT's ONNX parser (each parser error is reported), and
builds a *strongly typed* network: every tensor keeps the type the ONNX graph gives it, so the fp16
graph's LayerNorm/Softmax/residual adds stay fp32 exactly as ``beit_export.precision.fp16`` left them, and a
static QDQ int8 graph is built as explicit quantization. (TensorRT 11 removed the weakly typed
``BuilderFlag.FP16`` route; strong typing works the same on 10.x and 11.x.) One optimization profile
covers ``min_batch..max_batch`` (and ``min_size..max_size`` for dynamic-resolution artifacts); a
timing cache is loaded and saved when given. The engine file and its manifest record (TensorRT
version, GPU name, compute capability, profile) are written into the artifact.
"""

from __future__ import annotations

import datetime
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

from beit_runtime.engines.tensorrt_cuda import check, cudart, device_properties, missing_tensorrt
from beit_runtime.errors import BackendUnavailableError
from beit_runtime.manifest import EngineRecord, Manifest, ManifestRecord, ShapeRange, load_manifest, update_manifest
from beit_runtime.output_files import write_atomically

from ..errors import ExportError, TensorRTCompatibilityError
from ..options import ExportOptionsError
from .compat import check_tensorrt_compatibility
from .options import TensorRTBuildOptions
from .profile import profile_shapes


def _import_tensorrt():
    try:
        import tensorrt
    except ImportError as error:
        raise BackendUnavailableError(missing_tensorrt("tensorrt", needed_by="building TensorRT engines")) from error
    return tensorrt


def _parser_errors(parser) -> list[str]:
    messages = []
    for index in range(parser.num_errors):
        error = parser.get_error(index)
        try:
            messages.append(f"node '{error.node_name()}' ({error.node_operator()}): {error.desc()}")
        except AttributeError:  # older parsers lack node_name/node_operator
            messages.append(str(error))
    return messages


def _parse(trt, builder, logger, graph: Path):
    flags = 0
    if hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED"):  # the default (and only mode) in 11.x
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(graph)):
        errors = _parser_errors(parser) or ["the parser gave no details; rerun with a verbose TensorRT log"]
        raise TensorRTCompatibilityError(
            f"TensorRT {trt.__version__} could not parse {graph.name}:\n  - " + "\n  - ".join(errors)
        )
    return network, parser


def _config(trt, builder, network, profile: dict, *, workspace_gib: float, cache_bytes: bytes):
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    optimization_profile = builder.create_optimization_profile()
    for index in range(network.num_inputs):
        name = network.get_input(index).name
        if name not in profile:
            raise ExportError(f"the TensorRT network has an input '{name}' that the manifest does not describe")
        shapes = profile[name]
        optimization_profile.set_shape(name, shapes["min"], shapes["opt"], shapes["max"])
    config.add_optimization_profile(optimization_profile)
    cache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(cache, False)
    return config


def _record_engine(folder: Path, variant: str, record: EngineRecord) -> None:
    """Add (or replace) the ``engines[variant]`` record through the manifest writer (files re-hashed)."""
    def change(manifest: Manifest) -> ManifestRecord:
        return replace(manifest, engines=MappingProxyType({**manifest.engines, variant: record}))

    update_manifest(folder, change)


def _serialize(graph: Path, profile: dict, *, workspace_gib: float, cache_path: Path | None) -> tuple[bytes, str]:
    """Parse and build; returns the serialized engine and the TensorRT version that built it."""
    trt = _import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network, _parser = _parse(trt, builder, logger, graph)
    cache_bytes = cache_path.read_bytes() if cache_path is not None and cache_path.is_file() else b""
    config = _config(trt, builder, network, profile, workspace_gib=workspace_gib, cache_bytes=cache_bytes)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ExportError(
            f"TensorRT could not build an engine from {graph.name} (see its log above); try a larger "
            f"workspace_gib than {workspace_gib} or a smaller maximum batch/size"
        )
    if cache_path is not None:
        write_atomically(cache_path, bytes(config.get_timing_cache().serialize()))
    return bytes(serialized), trt.__version__


def build_engine(artifact_dir: str | Path, *, options: TensorRTBuildOptions | None = None) -> Path:
    """Build ``model.<graph_variant>.plan`` in ``artifact_dir`` and record it in the manifest; return its path.

    ``options`` (default ``TensorRTBuildOptions()``: the fp16 graph, batch 1..32) say which graph and
    which optimization profile; see ``TensorRTBuildOptions``.
    """
    options = options or TensorRTBuildOptions()
    folder = Path(artifact_dir)
    manifest = load_manifest(folder, verify_files=True)
    variant = options.graph_variant
    if variant not in manifest.graphs:
        others = " or ".join(name for name in manifest.graphs if manifest.graphs[name].role == "model")
        raise ExportOptionsError(f"--graph {variant}: artifact {folder} has no {variant} graph; pass --graph {others}, "
                                 f"or re-export it with --{variant}")
    graph = manifest.graph_path(variant)
    check_tensorrt_compatibility(graph)
    profile = profile_shapes(manifest.graphs[variant].inputs, manifest.input, batch=options.batches,
                             sizes=options.sizes)
    _import_tensorrt()
    device = device_properties(options.device_id)
    check(cudart().cudaSetDevice(options.device_id), "cudaSetDevice")
    serialized, version = _serialize(graph, profile, workspace_gib=options.workspace_gib,
                                     cache_path=options.timing_cache)
    engine_file = folder / f"model.{variant}.plan"
    write_atomically(engine_file, serialized)
    record = EngineRecord(
        file=engine_file.name, graph=variant, tensorrt_version=version, gpu_name=device["gpu_name"],
        compute_capability=device["compute_capability"],
        profile=MappingProxyType({name: ShapeRange(**{key: tuple(shape) for key, shape in shapes.items()})
                                  for name, shapes in profile.items()}),
        workspace_gib=options.workspace_gib, strongly_typed=True,
        built=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    _record_engine(folder, variant, record)
    return engine_file
