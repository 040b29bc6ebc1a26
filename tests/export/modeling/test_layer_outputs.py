"""The optional hidden_states / attentions outputs (issue 18): ONNX Runtime vs transformers with
attn_implementation="eager" and output_hidden_states / output_attentions, at the configured resolution and an
interpolated one, for BEiT with per-layer and shared relative position bias, ViT and a DINO-style ViT."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from beit_export.graph import export_onnx
from beit_export.modeling import make_export_module
from beit_export.outputs import resolve_extra_outputs
from beit_export.tasks import base_model
from beit_runtime.tasks import task as registry_task
from tests.export.reference import example_inputs
from tests.tiny_models import tiny_model

TOLERANCE = 1e-5  # fp32: observed ~6e-7 for hidden states, ~1e-8 for attention weights
BOTH = ("hidden_states", "attentions")

# id: (model type, task, config overrides, dynamic resolution, static resolution, --attention-layers, sizes checked)
CASES = {
    "beit-cls-per-layer-dynamic": ("beit", "image-classification", {}, True, None, None, [(32, 32), (48, 64)]),
    "beit-backbone-shared-dynamic": ("beit", "backbone", {"shared_bias": True}, True, None, (0, -1),
                                     [(32, 32), (40, 56)]),
    "beit-cls-shared-interpolated-static": ("beit", "image-classification", {"shared_bias": True}, False, (48, 48),
                                            "last", [(48, 48)]),
    "vit-cls-static": ("vit", "image-classification", {}, False, None, None, [(32, 32)]),
    "vit-cls-interpolated-static": ("vit", "image-classification", {}, False, (48, 40), None, [(48, 40)]),
    # DINO: a ViTModel without pooler (facebook/dino-vitb16 is one), whose CLS attention the maps show
    "dino-vit-backbone-dynamic": ("vit", "backbone", {"dino": True}, True, None, "all", [(32, 32), (64, 48)]),
    "beit-segmentation-static": ("beit", "semantic-segmentation", {}, False, None, None, [(32, 32)]),
    "beit-mim-shared-static": ("beit", "masked-image-modeling", {"shared_bias": True}, False, None, "all", [(32, 32)]),
}


def _model(model_type: str, task: str, overrides: dict):
    overrides = dict(overrides)
    if overrides.pop("dino", False):
        model = tiny_model("vit", "image-classification", **overrides).vit  # ViTForImageClassification's has no pooler
        assert model.pooler is None
        return model
    return tiny_model(model_type, task, **overrides)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    cache = {}

    def get(key):
        if key not in cache:
            model_type, task, overrides, dynamic, resolution, layers, _ = CASES[key]
            model = _model(model_type, task, overrides)
            extra = resolve_extra_outputs(BOTH, layers, config=model.config, entry=registry_task(task))
            module = make_export_module(model, task=task, dynamic_resolution=dynamic, resolution=resolution,
                                        extra_outputs=extra)
            height, width = resolution or (32, 32)
            path = tmp_path_factory.mktemp(key) / "model.onnx"
            export_onnx(module, task_spec=module.task_spec, path=path, dynamic_resolution=dynamic,
                        example_inputs=example_inputs(task, batch=2, height=height, width=width))
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            cache[key] = (model, task, module, extra, session)
        return cache[key]

    return get


@torch.no_grad()
def _transformers(model, task, inputs, extra) -> dict[str, np.ndarray]:
    """transformers' own outputs with eager attention and both flags, its tuples stacked on axis 1."""
    model.set_attn_implementation("eager")
    network = base_model(model) if task == "backbone" else model
    kwargs = {"bool_masked_pos": inputs[1]} if len(inputs) == 2 else {}
    result = network(inputs[0], interpolate_pos_encoding=True, output_hidden_states=True, output_attentions=True,
                     **kwargs)
    layers = [result.attentions[index] for index in extra.attention_layers]
    return {"hidden_states": torch.stack(result.hidden_states, 1).numpy(), "attentions": torch.stack(layers, 1).numpy()}


@pytest.mark.parametrize("key", list(CASES))
def test_optional_outputs_match_transformers(exported, key):
    model, task, module, extra, session = exported(key)
    assert module.output_names[-2:] == list(BOTH)
    for height, width in CASES[key][-1]:
        for batch in (1, 3):
            inputs = example_inputs(task, batch=batch, height=height, width=width, seed=batch + height)
            feeds = {name: tensor.numpy() for name, tensor in zip(module.input_names, inputs, strict=True)}
            got = dict(zip(module.output_names, session.run(module.output_names, feeds), strict=True))
            expected = _transformers(model, task, inputs, extra)
            tokens = (height // 8) * (width // 8) + 1
            assert got["hidden_states"].shape == (batch, model.config.num_hidden_layers + 1, tokens, 32)
            assert got["attentions"].shape == (batch, len(extra.attention_layers), 2, tokens, tokens)
            for name in BOTH:
                assert float(np.abs(got[name] - expected[name]).max()) <= TOLERANCE, (key, name, height, width)


@pytest.mark.parametrize("key", ["beit-cls-per-layer-dynamic", "vit-cls-static"])
def test_task_outputs_are_unchanged_by_the_optional_ones(exported, key):
    model, task, _, _, session = exported(key)
    inputs = example_inputs(task, batch=2, height=32, width=32, seed=3)
    logits = session.run(["logits"], {"pixel_values": inputs[0].numpy()})[0]
    with torch.no_grad():
        expected = model(inputs[0], interpolate_pos_encoding=True).logits.numpy()
    assert float(np.abs(logits - expected).max()) <= 1e-4


def test_axes_are_named_and_layers_follow_the_choice(exported):
    _, _, _, extra, session = exported("beit-backbone-shared-dynamic")
    shapes = {value.name: value.shape for value in session.get_outputs()}
    assert shapes["hidden_states"] == ["batch", 5, "sequence", 32]
    assert shapes["attentions"] == ["batch", 2, 2, "sequence", "sequence"]
    assert extra.attention_layers == (0, 3)
    _, _, _, segmentation, _ = exported("beit-segmentation-static")
    assert segmentation.attention_layers == (3,)  # segmentation defaults to the last layer


@pytest.mark.parametrize(("layers", "kept", "dead"), [("last", 4, 1), ((1,), 3, 0)])
def test_segmentation_attentions_keep_only_the_layers_they_need(tmp_path, layers, kept, dead):
    """UperNet reads hidden states 0-3 of the tiny model (layers 0-2): attentions of layer 3 keep it (its MLP feeds
    nothing, one LayerNorm fewer in the graph), attentions of layer 1 need no extra layer."""
    model = tiny_model("beit", "semantic-segmentation")
    extra = resolve_extra_outputs(("attentions",), layers, config=model.config,
                                  entry=registry_task("semantic-segmentation"))
    module = make_export_module(model, task="semantic-segmentation", extra_outputs=extra)
    assert len(module.model.beit.layers) == kept and module.dead_layer_norms == dead
    path = tmp_path / "model.onnx"
    inputs = example_inputs("semantic-segmentation", batch=2, height=32, width=32)
    export_onnx(module, task_spec=module.task_spec, path=path, example_inputs=inputs)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits, attentions = session.run(["logits", "attentions"], {"pixel_values": inputs[0].numpy()})
    expected = _transformers(model, "semantic-segmentation", inputs, extra)["attentions"]
    assert float(np.abs(attentions - expected).max()) <= TOLERANCE
    with torch.no_grad():
        assert float(np.abs(logits - model(inputs[0]).logits.numpy()).max()) <= 1e-4
