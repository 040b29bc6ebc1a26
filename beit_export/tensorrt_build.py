"""Build a TensorRT engine for an exported artifact, on the machine that will run it.

``build_engine(artifact_dir, graph_variant="fp16")`` checks the graph statically
(``tensorrt_compat``), parses it with TensorRT's ONNX parser (each parser error is reported), and
builds a *strongly typed* network: every tensor keeps the type the ONNX graph gives it, so the fp16
graph's LayerNorm/Softmax/residual adds stay fp32 exactly as ``beit_export.fp16`` left them, and a
static QDQ int8 graph is built as explicit quantization. (TensorRT 11 removed the weakly typed
``BuilderFlag.FP16`` route; strong typing works the same on 10.x and 11.x.) One optimization profile
covers ``min_batch..max_batch`` (and ``min_size..max_size`` for dynamic-resolution artifacts); a
timing cache is loaded and saved when given. The engine file and its manifest record (TensorRT
version, GPU name, compute capability, profile) are written into the artifact.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

from beit_runtime.engines.tensorrt_cuda import INSTALL_HINT, check, cudart, device_properties
from beit_runtime.errors import BackendUnavailableError
from beit_runtime.manifest import MANIFEST_FILE, load_manifest, sha256_of

from .errors import ExportError, TensorRTCompatibilityError
from .tensorrt_compat import check_tensorrt_compatibility
from .tensorrt_profile import profile_shapes


def _import_tensorrt():
    try:
        import tensorrt
    except ImportError as error:
        raise BackendUnavailableError(f"building TensorRT engines needs TensorRT; {INSTALL_HINT}") from error
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


def _write_atomic(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def _update_manifest(folder: Path, variant: str, engine_file: Path, record: dict) -> None:
    path = folder / MANIFEST_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    engines = data.get("engines") or {}
    engines[variant] = record
    data["engines"] = engines
    data.setdefault("files", {})[engine_file.name] = {"sha256": sha256_of(engine_file), "bytes": engine_file.stat().st_size}
    _write_atomic(path, (json.dumps(data, indent=2) + "\n").encode("utf-8"))
    load_manifest(folder, verify_files=True)


def _check_options(*, min_batch: int, opt_batch: int, max_batch: int, workspace_gib: float) -> None:
    if not 1 <= min_batch <= opt_batch <= max_batch:
        raise ExportError(f"batch sizes must satisfy 1 <= min <= opt <= max, got {min_batch}, {opt_batch}, {max_batch}")
    if workspace_gib <= 0:
        raise ExportError(f"workspace_gib must be positive, got {workspace_gib}")


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
        _write_atomic(cache_path, bytes(config.get_timing_cache().serialize()))
    return bytes(serialized), trt.__version__


def build_engine(
    artifact_dir: str | Path,
    *,
    graph_variant: str = "fp16",
    min_batch: int = 1,
    opt_batch: int = 8,
    max_batch: int = 32,
    workspace_gib: float = 4.0,
    timing_cache: str | Path | None = None,
    min_size: tuple[int, int] | None = None,
    opt_size: tuple[int, int] | None = None,
    max_size: tuple[int, int] | None = None,
    device_id: int = 0,
) -> Path:
    """Build ``model.<graph_variant>.plan`` in ``artifact_dir`` and record it in the manifest; return its path.

    Sizes are (height, width) and only apply to dynamic-resolution artifacts (defaults: half, native
    and double the native size, in whole patches). ``timing_cache`` is read if it exists and written
    back after the build, which makes later builds on the same GPU much faster.
    """
    folder = Path(artifact_dir)
    manifest = load_manifest(folder, verify_files=True)
    graph = manifest.graph_path(graph_variant)
    check_tensorrt_compatibility(graph)
    _check_options(min_batch=min_batch, opt_batch=opt_batch, max_batch=max_batch, workspace_gib=workspace_gib)
    profile = profile_shapes(
        manifest.graphs[graph_variant]["inputs"],
        manifest.input,
        batch=(min_batch, opt_batch, max_batch),
        sizes=(min_size, opt_size, max_size),
    )
    _import_tensorrt()
    device = device_properties(device_id)
    check(cudart().cudaSetDevice(device_id), "cudaSetDevice")
    cache_path = Path(timing_cache) if timing_cache is not None else None
    serialized, version = _serialize(graph, profile, workspace_gib=workspace_gib, cache_path=cache_path)
    engine_file = folder / f"model.{graph_variant}.plan"
    _write_atomic(engine_file, serialized)
    record = {"file": engine_file.name, "graph": graph_variant, "tensorrt_version": version, **device,
              "profile": profile, "workspace_gib": workspace_gib, "strongly_typed": True,
              "built": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    _update_manifest(folder, graph_variant, engine_file, record)
    return engine_file
