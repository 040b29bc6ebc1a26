"""export_onnx on tiny models: ONNX Runtime vs PyTorch, dynamic batch and resolution, graph checks."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper

from beit_export.errors import ExportError, GraphCheckError
from beit_export.graph import (
    INDEX_BUILDING_OPS,
    check_layer_norm_fused,
    check_no_index_building,
    count_layer_norms,
    export_onnx,
    external_data_path,
    op_histogram,
)
from beit_export.modeling import make_export_module
from beit_export.modeling.interpolation import linear_matrix
from tests.export.reference import example_inputs, hf_outputs, max_abs
from tests.tiny_models import tiny_model

TOLERANCE = 1e-4  # fp32 contract; observed ~2e-6
DYNAMIC_SIZES = [(32, 32), (48, 64), (64, 40), (44, 36)]  # 44x36: not whole patches, floored like HF

# (id, model type, task, config overrides, dynamic resolution): each exported once per session
EXPORTS = {
    "beit-cls-static": ("beit", "image-classification", {}, False),
    "beit-cls-shared-abs-dynamic": (
        "beit", "image-classification", {"shared_bias": True, "absolute_positions": True}, True
    ),
    "beit-backbone-dynamic": ("beit", "backbone", {"use_mean_pooling": False}, True),
    "beit-mim-shared-dynamic": ("beit", "masked-image-modeling", {"shared_bias": True}, True),
    "beit-seg-static": ("beit", "semantic-segmentation", {}, False),
    "vit-cls-static": ("vit", "image-classification", {}, False),
    "vit-backbone-dynamic": ("vit", "backbone", {}, True),
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    cache = {}

    def get(key):
        if key not in cache:
            model_type, task, overrides, dynamic = EXPORTS[key]
            model = tiny_model(model_type, task, **overrides)
            module = make_export_module(model, task=task, dynamic_resolution=dynamic)
            path = tmp_path_factory.mktemp(key) / "model.onnx"
            export_onnx(module, task_spec=module.task_spec, path=path, dynamic_resolution=dynamic,
                        example_inputs=example_inputs(task, batch=2, height=32, width=32))
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            cache[key] = (model, task, module, path, session)
        return cache[key]

    return get


def _check_parity(exported_entry, *, batch, height, width):
    model, task, module, _, session = exported_entry
    inputs = example_inputs(task, batch=batch, height=height, width=width, seed=batch + height)
    feeds = {name: tensor.numpy() for name, tensor in zip(module.input_names, inputs, strict=True)}
    got = session.run(module.output_names, feeds)
    expected = hf_outputs(model, task, inputs, module.output_names)
    for name, ours, theirs in zip(module.output_names, got, expected, strict=True):
        assert max_abs(ours, theirs) <= TOLERANCE, (name, batch, (height, width))


@pytest.mark.parametrize("key", list(EXPORTS))
def test_parity_and_dynamic_batch(exported, key):
    for batch in (1, 2, 3):
        _check_parity(exported(key), batch=batch, height=32, width=32)


@pytest.mark.parametrize("key", [k for k, v in EXPORTS.items() if v[3]])
def test_dynamic_resolution_at_several_sizes(exported, key):
    for height, width in DYNAMIC_SIZES:
        _check_parity(exported(key), batch=2, height=height, width=width)


@pytest.mark.parametrize("key", list(EXPORTS))
def test_graph_structure(exported, key):
    _, _, module, path, _ = exported(key)
    onnx.checker.check_model(str(path), full_check=True)
    graph = onnx.load(str(path))
    histogram = op_histogram(graph)
    assert not INDEX_BUILDING_OPS & set(histogram), histogram
    assert histogram["LayerNormalization"] == count_layer_norms(module) >= 6  # one node per nn.LayerNorm
    assert [i.name for i in graph.graph.input] == module.input_names
    assert [o.name for o in graph.graph.output] == module.output_names
    batch_dims = [i.type.tensor_type.shape.dim[0].dim_param for i in graph.graph.input]
    assert batch_dims == ["batch"] * len(batch_dims)
    dynamic = EXPORTS[key][3]
    pixel_dims = [d.dim_param or d.dim_value for d in graph.graph.input[0].type.tensor_type.shape.dim]
    assert pixel_dims == (["batch", 3, "height", "width"] if dynamic else ["batch", 3, 32, 32])
    for output, spec in zip(graph.graph.output, module.task_spec.outputs, strict=True):
        dims = [d.dim_param or d.dim_value for d in output.type.tensor_type.shape.dim]
        assert dims[0] == "batch" and all(isinstance(d, int) or d in spec.axes for d in dims), dims


def test_static_bias_uses_one_shared_int32_index(exported):
    graph = onnx.load(str(exported("beit-cls-static")[3]))
    initializers = {init.name: init for init in graph.graph.initializer}
    gathers = [node for node in graph.graph.node if node.op_type == "Gather" and node.input[1] in initializers]
    bias_indices = {node.input[1] for node in gathers if initializers[node.input[1]].data_type == TensorProto.INT32}
    assert len(gathers) == 4 and len(bias_indices) == 1  # one Gather per layer, one index for all
    assert not any(init.data_type == TensorProto.INT64 and np.prod(init.dims) > 16 for init in graph.graph.initializer)


def test_mim_graph_takes_bool_mask(exported):
    graph = onnx.load(str(exported("beit-mim-shared-dynamic")[3]))
    mask = graph.graph.input[1]
    assert mask.name == "bool_masked_pos" and mask.type.tensor_type.elem_type == TensorProto.BOOL


def _graph_with(op_type: str) -> onnx.ModelProto:
    inputs = [helper.make_tensor_value_info("data", TensorProto.FLOAT, [4]),
              helper.make_tensor_value_info("indices", TensorProto.INT64, [2, 1]),
              helper.make_tensor_value_info("updates", TensorProto.FLOAT, [2])]
    node = helper.make_node(op_type, ["data", "indices", "updates"], ["out"])
    output = helper.make_tensor_value_info("out", TensorProto.FLOAT, [4])
    graph = helper.make_graph([node], "scatter", inputs, [output])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def test_check_no_index_building_rejects_scatter_nd():
    model = _graph_with("ScatterND")
    onnx.checker.check_model(model, full_check=True)
    with pytest.raises(GraphCheckError, match="1 ScatterND"):
        check_no_index_building(model)
    assert op_histogram(model) == {"ScatterND": 1}
    with pytest.raises(GraphCheckError, match="LayerNormalization"):
        check_layer_norm_fused(model)


def test_check_no_index_building_looks_into_subgraphs():
    inner = _graph_with("ScatterND").graph
    branch = helper.make_graph(list(inner.node), "branch", [], list(inner.output))
    condition = helper.make_tensor_value_info("cond", TensorProto.BOOL, [])
    node = helper.make_node("If", ["cond"], ["out"], then_branch=branch, else_branch=branch)
    graph = helper.make_graph([node], "outer", [condition, *inner.input], list(inner.output))
    with pytest.raises(GraphCheckError, match="ScatterND"):
        check_no_index_building(helper.make_model(graph))


def test_export_rejects_old_opset(tmp_path):
    model = tiny_model("vit", "image-classification")
    module = make_export_module(model, task="image-classification")
    with pytest.raises(ExportError, match="opset"):
        export_onnx(module, task_spec=module.task_spec, path=tmp_path / "m.onnx", opset=17,
                    example_inputs=example_inputs("image-classification", batch=2, height=32, width=32))


def test_external_data_round_trip(tmp_path):
    model = tiny_model("beit", "backbone", shared_bias=True)
    module = make_export_module(model, task="backbone", dynamic_resolution=True)
    path = tmp_path / "model.onnx"
    export_onnx(module, task_spec=module.task_spec, path=path, dynamic_resolution=True, external_data=True,
                example_inputs=example_inputs("backbone", batch=2, height=32, width=32))
    assert external_data_path(path).stat().st_size > path.stat().st_size
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    _check_parity((model, "backbone", module, path, session), batch=1, height=48, width=40)


def test_dynamic_graph_builds_bias_index_in_int32(exported):
    graph = onnx.load(str(exported("beit-backbone-dynamic")[3]))
    assert {"Range", "MatMul"} <= set(op_histogram(graph))
    ranges = [node for node in graph.graph.node if node.op_type == "Range"]
    initializer_names = {init.name for init in graph.graph.initializer}
    assert not any(node.input[1] in initializer_names for node in graph.graph.node if node.op_type == "Gather"
                   and node.input[0].endswith("table_by_head"))
    assert ranges  # the index and the interpolation matrices come from Range over the symbolic sizes


def test_batch_one_example_is_widened(tmp_path):
    model = tiny_model("vit", "image-classification")
    module = make_export_module(model, task="image-classification")
    path = tmp_path / "model.onnx"
    export_onnx(module, task_spec=module.task_spec, path=path,
                example_inputs=example_inputs("image-classification", batch=1, height=32, width=32))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 4):
        _check_parity((model, "image-classification", module, path, session), batch=batch, height=32, width=32)


@pytest.mark.slow
def test_base_sized_beit_dynamic_resolution(tmp_path):
    """BEiT-base/16-224 layout (random weights): parity at the native size and two others, one non-square."""
    from transformers import BeitConfig, BeitForImageClassification

    from beit_export.checkpoint import randomize_zero_initialised

    config = BeitConfig(use_relative_position_bias=True, num_labels=1000, layer_scale_init_value=0.1)
    model = randomize_zero_initialised(BeitForImageClassification(config), seed=0).eval()
    module = make_export_module(model, task="image-classification", dynamic_resolution=True)
    path = tmp_path / "model.onnx"
    export_onnx(module, task_spec=module.task_spec, path=path, dynamic_resolution=True,
                example_inputs=example_inputs("image-classification", batch=2, height=224, width=224))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    entry = (model, "image-classification", module, path, session)
    for height, width in [(224, 224), (320, 256), (160, 384)]:
        _check_parity(entry, batch=2, height=height, width=width)


class _WeightsOfWidth(torch.nn.Module):
    """Bilinear weights (7 -> width) from a symbolic width, as the dynamic graphs compute them."""

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return linear_matrix(7, image.shape[-1])


def test_onnx_runtime_computes_torch_bilinear_weights_bit_for_bit(tmp_path):
    path = tmp_path / "weights.onnx"
    program = torch.onnx.export(_WeightsOfWidth().eval(), (torch.zeros(1, 5),), dynamo=True, verbose=False,
                                dynamic_shapes={"image": {1: "width"}})
    program.save(str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for width in (3, 5, 9, 13, 27, 39, 101):
        weights = session.run(None, {"image": np.zeros((1, width), np.float32)})[0]
        eye = torch.eye(7)[None, None]
        expected = F.interpolate(eye, size=(7, width), mode="bilinear", align_corners=False)[0, 0].t()
        np.testing.assert_array_equal(weights, expected.numpy())
