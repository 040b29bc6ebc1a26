"""The parity check's memory: photos under a keep-size recipe are scaled to a token limit, photo batches stay
within the budget, and the fit check counts the attention scores the engines hold, not only the outputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from beit_export.checkpoint import recipe_from_processor_config
from beit_export.options import ExportOptionsError
from beit_export.outputs import ExtraOutputs, ExtraOutputsError
from beit_export.parity.cases import photo_batches
from beit_export.parity.memory import (
    PHOTO_CASE_BUDGET,
    WORKING_SCORES,
    PlannedCase,
    case_bytes,
    check_cases_fit,
    photo_token_limit,
    running_bytes,
    tokens_of,
)
from beit_export.parity.photos import sample_photos, scaled_to_tokens
from tests.conftest import BEIT_PROCESSOR_CONFIG
from tests.tiny_models import tiny_beit_config

HUBBLE = (872, 1000)  # skimage.data.hubble_deep_field: 13,626 tokens at patch 8


def _keep_size(config: Any) -> dict[str, Any]:
    return recipe_from_processor_config(dict(BEIT_PROCESSOR_CONFIG, do_resize=False), config=config)


def test_keep_size_photos_are_scaled_under_the_token_limit_and_named_so():
    """The review's export: every photo at its own size, the Hubble field alone 13,626 tokens, so 12 layers' x 8
    heads' attentions grew past 24 GB. Each photo case now stays within the budget, aspect ratio kept."""
    config = tiny_beit_config(num_hidden_layers=12, num_attention_heads=8)
    extra = ExtraOutputs(names=("attentions",), attention_layers=tuple(range(12)), num_layers=12)
    limit = photo_token_limit(config, extra)
    batches = photo_batches(_keep_size(config), model_type="beit", config=config, extra_outputs=extra)
    assert len(batches) == len(sample_photos())
    for name, pixels in batches:
        height, width = pixels.shape[2:]
        assert height % 8 == 0 and width % 8 == 0, name
        assert tokens_of(height, width, patch_size=8) <= limit, name
        assert case_bytes(batch=len(pixels), tokens=tokens_of(height, width, patch_size=8), config=config,
                          extra=extra) <= PHOTO_CASE_BUDGET, name
    (name, pixels), = [(name, pixels) for name, pixels in batches if "hubble_deep_field" in name]
    assert name.startswith(f"photos b1 {pixels.shape[2]}x{pixels.shape[3]} ") and "scaled down from 872x1000" in name
    assert abs(pixels.shape[3] / pixels.shape[2] - HUBBLE[1] / HUBBLE[0]) < 0.1


def test_fixed_size_photos_batch_while_the_batch_fits():
    config = tiny_beit_config()
    recipe = recipe_from_processor_config(BEIT_PROCESSOR_CONFIG, config=config)
    names = [name for name, _ in photo_batches(recipe, model_type="beit", config=config)]
    assert names == [f"photos b{len(sample_photos())} 32x32"]  # the default budget: unchanged
    one_image = case_bytes(batch=1, tokens=17, config=config, extra=None)
    split = photo_batches(recipe, model_type="beit", config=config, budget=2 * one_image)
    assert [len(pixels) for _, pixels in split] == [2, 2, 2]
    assert [name for name, _ in split] == [f"photos b2 32x32 ({n}/3)" for n in (1, 2, 3)]


def test_scaling_keeps_small_images_and_whole_patches():
    image = np.zeros((30, 45, 3), dtype=np.uint8)
    assert scaled_to_tokens(image, patch_size=8, max_tokens=100) is image
    small = scaled_to_tokens(np.zeros((*HUBBLE, 3), dtype=np.uint8), patch_size=8, max_tokens=1001)
    rows, columns = small.shape[0] // 8, small.shape[1] // 8
    assert small.shape[0] % 8 == 0 == small.shape[1] % 8 and rows * columns + 1 <= 1001 and rows * columns > 900


def test_the_fit_check_counts_the_attention_scores_without_outputs():
    """A default export (no --outputs) still runs attention: 8 heads at 13,626 tokens are 5.5 GiB of scores a
    layer, which ONNX Runtime holds ~4 times over. The old check counted only the requested outputs."""
    config = tiny_beit_config(num_attention_heads=8)
    tokens = tokens_of(*HUBBLE, patch_size=8)
    assert running_bytes(batch=1, tokens=tokens, config=config, extra=None) == WORKING_SCORES * 8 * tokens**2 * 4
    cases = [PlannedCase("random b2 32x32", 2, 32, 32), PlannedCase("photos b1 872x1000", 1, *HUBBLE)]
    with pytest.raises(ExportOptionsError, match=r"photos b1 872x1000.*attention scores.*more than half") as error:
        check_cases_fit(cases, config, extra=None, available=16 * 2**30)
    assert not isinstance(error.value, ExtraOutputsError)
    check_cases_fit(cases[:1], config, extra=None, available=16 * 2**30)


def test_the_fit_check_names_the_fixes_of_what_was_asked():
    config = tiny_beit_config(num_attention_heads=8)
    extra = ExtraOutputs(names=("attentions",), attention_layers=(3,), num_layers=4)
    cases = [PlannedCase("user b1 872x1000", 1, *HUBBLE)]
    with pytest.raises(ExtraOutputsError, match=r"--attention-layers last.*--parity-data"):
        check_cases_fit(cases, config, extra=extra, available=16 * 2**30)
