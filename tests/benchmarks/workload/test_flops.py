"""benchmarks.workload.flops: the analytic FLOP count equals torch's counter and the reference figure."""

from __future__ import annotations

import pytest

from benchmarks.workload.flops import model_flops


def test_flop_formula_matches_torch_flop_counter():
    """The analytic count equals torch's FLOP counter (eager attention, which it can see) exactly."""
    import torch
    import transformers
    from torch.utils.flop_counter import FlopCounterMode

    from benchmarks.workload.tiny import TINY_CONFIG

    cases = [("BeitForImageClassification", "image-classification", {}),
             ("BeitModel", "backbone", {}),
             ("BeitForSemanticSegmentation", "semantic-segmentation",
              {"num_hidden_layers": 4, "out_indices": [1, 2, 3, 4], "use_auxiliary_head": False})]
    for architecture, task, extra in cases:
        config = transformers.BeitConfig(**{**TINY_CONFIG, **extra})
        model = getattr(transformers, architecture)._from_config(config, attn_implementation="eager").eval()
        with FlopCounterMode(display=False) as counter, torch.inference_mode():
            model(pixel_values=torch.randn(1, 3, 64, 64))
        assert model_flops(config.to_dict(), task=task, height=64, width=64) == counter.get_total_flops(), architecture


def test_flop_formula_beit_base_reference_figure():
    config = {"patch_size": 16, "hidden_size": 768, "num_hidden_layers": 12, "intermediate_size": 3072,
              "num_labels": 1000}
    flops = model_flops(config, task="image-classification", height=224, width=224)
    assert flops / 2e9 == pytest.approx(17.6, abs=0.05)
