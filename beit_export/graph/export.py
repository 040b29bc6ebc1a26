"""ONNX export of an ``ExportModule`` with the dynamo exporter.

- example batch 2 (a batch-1 example is repeated: torch.export specialises a size-1 dim);
- dynamic "batch" axis on every input, dynamic "height"/"width" with ``dynamic_resolution``
  (and a dynamic "num_patches" on ``bool_masked_pos`` then);
- inputs/outputs named after the TaskSpec, LayerNormalization kept as single nodes (opset >= 17);
- weights inline below ~2 GB, else in one external data file ``<name>.data`` beside the graph;
- after saving: no index-building ops, LayerNormalization present, ``onnx.checker`` full check.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import onnx
import onnx_ir
import onnx_ir.passes.common
import onnxscript.optimizer
import torch

from ..errors import ExportError, GraphCheckError
from ..options import MIN_OPSET
from ..tasks import TaskSpec
from .checks import check_layer_norm_fused, check_no_index_building
from .io import EXTERNAL_DATA_THRESHOLD_BYTES

EXAMPLE_BATCH = 2


def _example_batch(example_inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    batch = example_inputs[0].shape[0]
    if batch >= EXAMPLE_BATCH:
        return tuple(example_inputs)
    repeats = -(-EXAMPLE_BATCH // batch)
    return tuple(torch.cat([tensor] * repeats)[:EXAMPLE_BATCH] for tensor in example_inputs)


def dynamic_shapes_for(task_spec: TaskSpec, *, dynamic_resolution: bool) -> dict[str, dict[int, str]]:
    """The torch.export ``dynamic_shapes`` (axis names) for the TaskSpec's inputs."""
    shapes: dict[str, dict[int, str]] = {}
    for spec in task_spec.inputs:
        axes = {index: axis for index, axis in enumerate(spec.axes) if axis == "batch"}
        if dynamic_resolution:
            dynamic = ("height", "width", "num_patches")
            axes.update({index: axis for index, axis in enumerate(spec.axes) if axis in dynamic})
        shapes[spec.name] = axes
    return shapes


def initializer_bytes(program) -> int:
    """Bytes of the weights the ONNX graph will hold (after optimisation and deduplication)."""
    values = program.model.graph.initializers.values()
    return sum(value.const_value.nbytes for value in values if value.const_value is not None)


def external_data_path(path: str | os.PathLike) -> Path:
    """Where export_onnx writes the weights of a graph over the threshold: ``<graph file name>.data``."""
    path = Path(path)
    return path.with_name(path.name + ".data")


def _remove_stale(path: Path) -> None:
    for stale in (path, external_data_path(path)):
        if stale.exists():
            stale.unlink()


def _run_exporter(module, args, task_spec: TaskSpec, *, dynamic_resolution: bool, opset: int):
    try:
        return torch.onnx.export(
            module,
            args,
            dynamo=True,
            opset_version=opset,
            input_names=task_spec.input_names,
            output_names=task_spec.output_names,
            dynamic_shapes=dynamic_shapes_for(task_spec, dynamic_resolution=dynamic_resolution),
            optimize=False,
            verbose=False,
            external_data=False,
        )
    except Exception as error:  # torch.export/onnxscript raise many types; one readable error out
        raise ExportError(
            f"torch.onnx.export (dynamo, opset {opset}) failed for task {task_spec.name!r}: "
            f"{type(error).__name__}: {error}"
        ) from error


def _is_float_gather(node) -> bool:
    data = node.inputs[0] if node.inputs else None
    return node.op_type == "Gather" and data is not None and data.dtype is not None and data.dtype.is_floating_point()


def _is_index_widening(node) -> bool:
    source = node.inputs[0] if node.inputs else None
    widens = node.op_type == "Cast" and node.attributes.get_int("to") == onnx.TensorProto.INT64
    return widens and source is not None and source.dtype == onnx_ir.DataType.INT32


def _should_fold(node) -> bool | None:
    """Keep float-table Gathers and int32->int64 index Casts: the bias index stays one shared int32
    constant instead of a (heads, N+1, N+1) float constant per layer (123 MB per layer at 640)."""
    if _is_float_gather(node) or _is_index_widening(node):
        return False
    return None


def _use_int32_indices(model) -> None:
    """Feed int32 indices to Gather directly (valid ONNX; TensorRT prefers int32) instead of via Cast."""
    for node in model.graph:
        if node.op_type != "Gather" or len(node.inputs) < 2 or node.inputs[1] is None:
            continue
        producer = node.inputs[1].producer()
        if producer is not None and _is_index_widening(producer):
            node.replace_input_with(1, producer.inputs[0])


def optimize_program(program) -> None:
    """torch's default optimisation (onnxscript optimize_ir) with int32 bias indices kept as they are."""
    onnxscript.optimizer.optimize_ir(program.model, should_fold=_should_fold)
    _use_int32_indices(program.model)
    onnx_ir.passes.common.RemoveUnusedNodesPass()(program.model)
    _name_bias_indices(program.model)
    # per-node fx/stack-trace metadata is ~90% of a graph file's non-weight bytes
    onnx_ir.passes.common.ClearMetadataAndDocStringPass()(program.model)


def name_output_axes(model, task_spec: TaskSpec) -> None:
    """Name symbolic output dims after the TaskSpec axes (e.g. "sequence" for "((height//16))*...+1")."""
    for value, spec in zip(model.graph.outputs, task_spec.outputs, strict=True):
        if value.shape is None or len(value.shape) != len(spec.axes):
            continue
        dims = [
            axis if isinstance(axis, str) and not isinstance(dim, int) else dim
            for dim, axis in zip(value.shape, spec.axes, strict=True)
        ]
        value.shape = onnx_ir.Shape(dims)


def _name_bias_indices(model) -> None:
    """Give the int32 relative position index initializer(s) readable names."""
    indices = []
    for node in model.graph:
        index = node.inputs[1] if node.op_type == "Gather" and len(node.inputs) > 1 else None
        is_int32_initializer = index is not None and index.is_initializer() and index.dtype == onnx_ir.DataType.INT32
        if is_int32_initializer and index not in indices:
            indices.append(index)
    for number, index in enumerate(indices):
        index.name = "relative_position_index" if len(indices) == 1 else f"relative_position_index_{number}"


def verify_saved_graph(path: Path, *, expected_layer_norms: int | None = None) -> onnx.ModelProto:
    """Full onnx.checker, no index-building ops, LayerNormalization nodes; returns the graph (no weights)."""
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except onnx.checker.ValidationError as error:
        raise GraphCheckError(f"the exported graph {Path(path).name} fails onnx.checker: {error}") from error
    graph = onnx.load(str(path), load_external_data=False)
    check_no_index_building(graph)
    check_layer_norm_fused(graph, expected=expected_layer_norms)
    return graph


def count_layer_norms(module: torch.nn.Module) -> int:
    return sum(isinstance(m, torch.nn.LayerNorm) for m in module.modules())


def export_onnx(
    module: torch.nn.Module,
    *,
    task_spec: TaskSpec,
    path: str | os.PathLike,
    example_inputs: tuple[torch.Tensor, ...],
    dynamic_resolution: bool = False,
    opset: int = MIN_OPSET,
    external_data: bool | None = None,
) -> None:
    """Export ``module`` (from make_export_module) to ``path``; raises ExportError/GraphCheckError.

    ``external_data``: None writes the weights to ``external_data_path(path)`` only when they exceed
    ~1.8 GB (protobuf cannot hold 2 GiB); True/False force it either way.
    """
    if opset < MIN_OPSET:
        raise ExportError(f"opset {opset} is too old: expected >= {MIN_OPSET} (LayerNormalization needs >= 17).")
    if len(example_inputs) != len(task_spec.inputs):
        raise ExportError(
            f"expected {len(task_spec.inputs)} example inputs {task_spec.input_names}, got {len(example_inputs)}."
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path)
    args = _example_batch(tuple(example_inputs))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*shares the same shape constraints.*")
        program = _run_exporter(module.eval(), args, task_spec, dynamic_resolution=dynamic_resolution, opset=opset)
    optimize_program(program)
    name_output_axes(program.model, task_spec)
    if external_data is None:
        external_data = initializer_bytes(program) > EXTERNAL_DATA_THRESHOLD_BYTES
    program.save(str(path), external_data=external_data)
    # a module may hold LayerNorms whose outputs feed nothing (``make_export_module``'s ``dead_layer_norms``)
    expected = count_layer_norms(module) - getattr(module, "dead_layer_norms", 0)
    verify_saved_graph(path, expected_layer_norms=expected)
