"""Segmentation export: exact adaptive pooling, the prepared model, the ONNX graph and the postprocess graph."""

from __future__ import annotations

import copy

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from beit_export.errors import UnsupportedCheckpointError
from beit_export.graph import build_segmentation_postprocess, segmentation_postprocessing_record
from beit_export.modeling.segmentation import (
    ExactAdaptiveAvgPool2d,
    _symbolic_bilinear_matrix,
    _symbolic_pool_matrix,
    adaptive_pool_matrix,
    bilinear_matrix,
    prepare_segmentation_model,
    resize_bilinear,
    unused_trailing_layers,
)
from tests.tiny_models import tiny_beit_config, tiny_model


@torch.no_grad()
def lively_segmentation_model(*, seed: int = 0, **overrides) -> nn.Module:
    """A tiny segmentation model whose logits are O(1) and depend on every layer.

    transformers' initialisation (std 0.02, layer scale 0.1) leaves the hidden states almost equal
    across layers and the logits near 1e-3, so a 1e-4 parity bound or a wrong layer would go unseen.
    """
    model = tiny_model("beit", "semantic-segmentation", seed=seed, **overrides)
    generator = torch.Generator().manual_seed(seed + 100)
    for name, parameter in model.named_parameters():
        if parameter.dim() >= 2:
            fan_in = parameter[0].numel()
            parameter.copy_(torch.randn(parameter.shape, generator=generator) / fan_in**0.5)
        elif name.endswith(("lambda_1", "lambda_2")):
            parameter.fill_(1.0)
        else:
            centre = 1.0 if name.endswith("weight") else 0.0
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.1 + centre)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) + 0.5)
    return model.eval()


UNEVEN = [(20, 3), (20, 6), (40, 6), (13, 6), (5, 3), (5, 6), (2, 3), (7, 1), (6, 6)]


@pytest.mark.parametrize(("size", "scale"), UNEVEN)
def test_exact_pooling_equals_torch_adaptive_pooling(size, scale):
    generator = torch.Generator().manual_seed(size * 10 + scale)
    hidden = torch.randn(2, 5, size, size + 7, generator=generator)
    expected = nn.AdaptiveAvgPool2d(scale)(hidden)
    actual = ExactAdaptiveAvgPool2d(scale)(hidden)
    assert actual.shape == expected.shape
    torch.testing.assert_close(actual, expected, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize(("size", "scale"), UNEVEN)
def test_symbolic_pool_matrix_equals_constant_matrix(size, scale):
    built = _symbolic_pool_matrix(size, scale, torch.zeros(1))
    np.testing.assert_allclose(built.numpy(), adaptive_pool_matrix(size, scale), atol=1e-7)


def test_pool_matrix_rows_are_torch_bins():
    # 20 -> 3: bins [0, 7), [6, 14), [13, 20) overlap by one row, as in torch
    matrix = adaptive_pool_matrix(20, 3)
    assert [np.flatnonzero(row).tolist() for row in matrix] == [list(range(7)), list(range(6, 14)), list(range(13, 20))]
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, rtol=1e-6)


RESIZES = [(1, 20), (2, 20), (3, 20), (6, 20), (20, 40), (40, 160), (7, 13), (16, 5), (9, 9)]


@pytest.mark.parametrize(("size", "target"), RESIZES)
def test_matrix_bilinear_equals_torch_interpolate(size, target):
    hidden = torch.randn(2, 3, size, size + 2, generator=torch.Generator().manual_seed(size + target))
    expected = F.interpolate(hidden, size=(target, target + 1), mode="bilinear", align_corners=False)
    torch.testing.assert_close(resize_bilinear(hidden, (target, target + 1)), expected, atol=2e-5, rtol=1e-5)
    built = _symbolic_bilinear_matrix(size, target, torch.zeros(1)).numpy()
    np.testing.assert_allclose(built, bilinear_matrix(size, target), atol=1e-6)


@pytest.mark.parametrize(
    ("out_indices", "layers", "unused"),
    [([1, 2, 3, 4], 4, 1), ([0, 2, 3, 4], 4, 0), ([2, 3, 4, 5], 5, 1), ([1, 2, 3, 4], 6, 3)],
)
def test_prepared_model_keeps_logits(out_indices, layers, unused):
    model = lively_segmentation_model(out_indices=out_indices, image_size=80, num_hidden_layers=layers)
    assert unused_trailing_layers(model) == unused
    prepared = prepare_segmentation_model(copy.deepcopy(model))
    assert prepared.auxiliary_head is None and model.auxiliary_head is not None
    assert len(prepared.beit.layers) == layers - unused
    assert not any(isinstance(module, nn.AdaptiveAvgPool2d) for module in prepared.modules())
    pixels = torch.randn(2, 3, 80, 80, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(
            prepared(pixel_values=pixels).logits, model(pixel_values=pixels).logits, atol=1e-5, rtol=1e-5
        )


def test_out_indices_are_validated_by_transformers_and_change_the_output():
    with pytest.raises(ValueError, match="same order"):
        tiny_beit_config(out_indices=[4, 3, 2, 1])
    pixels = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    logits = []
    for out_indices in ([1, 2, 3, 4], [0, 2, 3, 4]):
        model = prepare_segmentation_model(lively_segmentation_model(out_indices=out_indices))
        with torch.no_grad():
            logits.append(model(pixel_values=pixels).logits)
    assert logits[0].abs().mean() > 0.1 and (logits[0] - logits[1]).abs().max() > 0.1


def test_prepare_rejects_other_models():
    with pytest.raises(UnsupportedCheckpointError, match="BeitForSemanticSegmentation"):
        prepare_segmentation_model(tiny_model("beit", "image-classification"))


def _export(model, path, image_size, *, dynamic_resolution=False):
    from beit_export.graph import export_onnx
    from beit_export.modeling import make_export_module
    from beit_export.tasks import TASKS

    module = make_export_module(model, task="semantic-segmentation", dynamic_resolution=dynamic_resolution)
    example = (torch.randn(2, 3, image_size, image_size, generator=torch.Generator().manual_seed(3)),)
    export_onnx(module, task_spec=TASKS["semantic-segmentation"], path=path, example_inputs=example,
                dynamic_resolution=dynamic_resolution)
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert "Resize" not in ops and "AveragePool" not in ops and "GlobalAveragePool" not in ops
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _assert_matches(session, model, batch, height, width):
    pixels = torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(batch * height + width))
    with torch.no_grad():
        expected = model(pixel_values=pixels, interpolate_pos_encoding=True).logits.numpy()
    (actual,) = session.run(["logits"], {"pixel_values": pixels.numpy()})
    assert actual.shape == expected.shape == (batch, 10, height // 2, width // 2)
    assert np.abs(actual - expected).max() <= 1e-4


@pytest.mark.parametrize(("out_indices", "image_size"), [([1, 2, 3, 4], 32), ([0, 2, 3, 4], 80)])
def test_exported_graph_matches_pytorch(tmp_path, out_indices, image_size):
    model = lively_segmentation_model(out_indices=out_indices, image_size=image_size)
    session = _export(model, tmp_path / "model.onnx", image_size)
    assert [node.name for node in session.get_outputs()] == ["logits"]
    for batch in (1, 3):
        _assert_matches(session, model, batch, image_size, image_size)


def test_dynamic_resolution_graph_matches_pytorch_at_uneven_sizes(tmp_path):
    # 104x48 -> 13x6 patches -> a 6x3 map in the pyramid pooling: uneven bins for scales 3 and 6
    model = lively_segmentation_model(image_size=80)
    session = _export(model, tmp_path / "model.onnx", 80, dynamic_resolution=True)
    for batch, height, width in ((1, 80, 80), (2, 104, 48), (1, 64, 96)):
        _assert_matches(session, model, batch, height, width)


@pytest.mark.parametrize(
    ("logit_size", "target"), [((16, 16), (512, 384)), ((16, 16), (9, 7)), ((20, 12), (20, 12)), ((16, 16), (1, 1))]
)
def test_postprocess_graph_equals_torch_interpolate_and_argmax(logit_size, target):
    graph = build_segmentation_postprocess(num_labels=10)
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    logits = np.random.default_rng(0).standard_normal((2, 10, *logit_size)).astype(np.float32)
    (labels,) = session.run(None, {"logits": logits, "target_size": np.asarray(target, dtype=np.int64)})
    scores = F.interpolate(torch.from_numpy(logits), size=target, mode="bilinear", align_corners=False)
    expected = scores.argmax(dim=1).numpy()
    assert labels.dtype == np.int32 and labels.shape == (2, *target)
    assert (labels == expected).mean() >= 0.9999


def test_postprocess_graph_shape_and_record():
    graph = build_segmentation_postprocess(num_labels=150)
    assert [node.op_type for node in graph.graph.node][-3:] == ["Resize", "ArgMax", "Cast"]
    assert graph.graph.input[0].type.tensor_type.shape.dim[1].dim_value == 150
    record = segmentation_postprocessing_record(num_labels=150)
    assert record["resize"] == "bilinear" and record["align_corners"] is False and record["logits_stride"] == 4
    with pytest.raises(ValueError):
        build_segmentation_postprocess(num_labels=10, opset=17)


@pytest.mark.slow
def test_base_ade_640_graph_matches_pytorch(tmp_path):
    """benchmarks/segmentation_640_check.py: random-init BEiT-base + UperNet at 640 (minutes, ~6 GB RAM)."""
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[3] / "benchmarks" / "segmentation_640_check.py"
    spec = importlib.util.spec_from_file_location("segmentation_640_check", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    report = module.main(["--workdir", str(tmp_path)])
    assert report["passed"], report
