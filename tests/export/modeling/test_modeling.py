"""make_export_module equals the Hugging Face model (PyTorch only, no export): every task, both
relative position bias layouts, absolute position embeddings, static and dynamic resolution."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from transformers.models.beit.modeling_beit import BeitRelativePositionBias

from beit_export.errors import UnsupportedCheckpointError
from beit_export.modeling import make_export_module
from beit_export.modeling.interpolation import cubic_matrix, linear_matrix, resize_channels_first
from beit_export.modeling.relative_position import relative_position_index
from beit_export.tasks import TASKS, detect_task, resolve_task_spec
from tests.export.reference import example_inputs, hf_outputs, max_abs
from tests.tiny_models import tiny_model

TOLERANCE = 1e-5  # observed ~1e-6: matrix products sum in another order than F.interpolate
DYNAMIC_SIZES = [(32, 32), (48, 64), (64, 40), (16, 24), (40, 40)]

CASES = [
    ("beit", "image-classification", {}),
    ("beit", "image-classification", {"shared_bias": True, "absolute_positions": True}),
    ("beit", "backbone", {"use_mean_pooling": False}),
    ("beit", "backbone", {"shared_bias": True, "absolute_positions": True, "layer_scale_init_value": 0.0}),
    ("beit", "masked-image-modeling", {"shared_bias": True}),
    ("beit", "semantic-segmentation", {}),
    ("vit", "image-classification", {}),
    ("vit", "backbone", {}),
]


def _assert_equal_to_hf(model, task, module, sizes):
    for height, width in sizes:
        inputs = example_inputs(task, batch=2, height=height, width=width)
        with torch.no_grad():
            got = module(*inputs)
        expected = hf_outputs(model, task, inputs, module.output_names)
        assert len(got) == len(expected) == len(module.output_names)
        for name, ours, theirs in zip(module.output_names, got, expected, strict=True):
            assert max_abs(ours, theirs) <= TOLERANCE, (task, name, (height, width))


@pytest.mark.parametrize(("model_type", "task", "overrides"), CASES)
def test_static_module_equals_hf(model_type, task, overrides):
    model = tiny_model(model_type, task, **overrides)
    module = make_export_module(model, task=task, dynamic_resolution=False)
    _assert_equal_to_hf(model, task, module, [(32, 32)])


@pytest.mark.parametrize(("model_type", "task", "overrides"), CASES)
def test_dynamic_module_equals_hf_at_many_sizes(model_type, task, overrides):
    model = tiny_model(model_type, task, **overrides)
    module = make_export_module(model, task=task, dynamic_resolution=True)
    _assert_equal_to_hf(model, task, module, DYNAMIC_SIZES)


def test_static_module_at_another_resolution_equals_hf():
    model = tiny_model("beit", "image-classification", absolute_positions=True)
    module = make_export_module(model, task="image-classification", resolution=(48, 64))
    _assert_equal_to_hf(model, "image-classification", module, [(48, 64)])


def test_caller_model_is_untouched():
    model = tiny_model("beit", "semantic-segmentation", absolute_positions=True)
    before = {name: value.clone() for name, value in model.state_dict().items()}
    types_before = [type(m) for m in model.modules()]
    make_export_module(model, task="semantic-segmentation", dynamic_resolution=True)
    make_export_module(model, task="backbone", dynamic_resolution=False)
    assert [type(m) for m in model.modules()] == types_before
    assert model.auxiliary_head is not None and model.config._attn_implementation == "sdpa"
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert "interpolate_pos_encoding" not in vars(model.beit.embeddings)


@pytest.mark.parametrize("window", [(4, 4), (1, 1), (3, 5), (6, 2), (14, 14)])
def test_relative_position_index_matches_hf(window):
    ours = relative_position_index(*window)
    expected = BeitRelativePositionBias.generate_relative_position_index(window)
    assert ours.dtype == torch.int32
    assert torch.equal(ours.long(), expected)


@pytest.mark.parametrize("in_size", [1, 2, 4, 7, 27])
@pytest.mark.parametrize("out_size", [1, 3, 7, 13, 39, 55])
def test_interpolation_matrices_match_torch(in_size, out_size):
    grid = torch.randn(2, in_size, in_size + 2, generator=torch.Generator().manual_seed(in_size))
    size = (out_size, out_size + 5)
    bilinear = resize_channels_first(grid, linear_matrix(in_size, size[0]), linear_matrix(in_size + 2, size[1]))
    expected = F.interpolate(grid[None], size=size, mode="bilinear", align_corners=False)[0]
    assert max_abs(bilinear, expected) <= 2e-6
    # one axis alone: the matrix holds torch's weights bit for bit (source indices computed like ATen)
    eye = torch.eye(in_size)[None, None]
    weights = F.interpolate(eye, size=(in_size, out_size), mode="bilinear", align_corners=False)[0, 0]
    assert torch.equal(linear_matrix(in_size, out_size).t(), weights)
    bicubic = resize_channels_first(grid, cubic_matrix(in_size, size[0]), cubic_matrix(in_size + 2, size[1]))
    expected = F.interpolate(grid[None], size=size, mode="bicubic", align_corners=False)[0]
    assert max_abs(bicubic, expected) <= 1e-5


def test_identity_size_is_exact():
    grid = torch.randn(3, 7, 5)
    for matrix in (linear_matrix, cubic_matrix):
        assert torch.equal(resize_channels_first(grid, matrix(7, 7), matrix(5, 5)), grid)


def test_detect_task_and_spec():
    assert detect_task(tiny_model("beit", "masked-image-modeling")) == "masked-image-modeling"
    assert detect_task(tiny_model("vit", "backbone")) == "backbone"
    vit_classifier = tiny_model("vit", "image-classification")
    assert resolve_task_spec(vit_classifier, "backbone").output_names == ["last_hidden_state"]
    assert resolve_task_spec(tiny_model("vit", "backbone"), "backbone") == TASKS["backbone"]
    assert TASKS["masked-image-modeling"].inputs[1].dtype == "bool"
    with pytest.raises(UnsupportedCheckpointError, match="masked-image-modeling"):
        make_export_module(vit_classifier, task="masked-image-modeling")
    with pytest.raises(UnsupportedCheckpointError, match="expected one of"):
        detect_task(torch.nn.Linear(2, 2))


def test_backbone_from_classifier_without_pooler_has_one_output():
    model = tiny_model("vit", "image-classification")
    module = make_export_module(model, task="backbone", dynamic_resolution=False)
    assert module.output_names == ["last_hidden_state"]
    _assert_equal_to_hf(model, "backbone", module, [(32, 32)])


def _traced_aranges(model) -> int:
    module = make_export_module(model, task="backbone", dynamic_resolution=True)
    pixels = example_inputs("backbone", batch=2, height=32, width=32)[0]
    auto = torch.export.Dim.AUTO  # batch, height and width symbolic, as the exporter traces them
    program = torch.export.export(module, (pixels,), dynamic_shapes=({0: auto, 2: auto, 3: auto},))
    return sum(1 for node in program.graph.nodes if "arange" in str(node.target))


def test_per_layer_dynamic_biases_build_the_window_geometry_once_per_pass():
    """Each layer has its own table, but the index and the interpolation matrices depend on the window alone:
    the traced program builds them as often as a model with one shared table does, not once per layer."""
    per_layer = tiny_model("beit", "backbone", use_mean_pooling=False)
    shared = tiny_model("beit", "backbone", use_mean_pooling=False, shared_bias=True)
    assert per_layer.config.num_hidden_layers == 4
    assert _traced_aranges(per_layer) == _traced_aranges(shared) > 0


@pytest.mark.parametrize("resolution", [None, (48, 32)])
def test_static_module_of_a_non_square_beit_equals_hf(resolution):
    """transformers resizes the relative bias table it views as (width, height) even at the config's own
    window: for a non-square image_size that is no identity, and the static graph must do the same."""
    model = tiny_model("beit", "image-classification", image_size=[32, 64])
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("relative_position_bias_table"):  # a trained table's scale, not random init's 0.02
                parameter.copy_(torch.randn(parameter.shape, generator=torch.Generator().manual_seed(3)))
    module = make_export_module(model, task="image-classification", resolution=resolution)
    _assert_equal_to_hf(model, "image-classification", module, [resolution or (32, 64)])
