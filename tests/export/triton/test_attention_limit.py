"""The default largest image of a served ``--dynamic-resolution`` artifact whose recipe keeps each image's size:
what keeps one image's attention within 2 GiB, not the 25 Mpx photo default (whose attention alone would take
terabytes and kill the server)."""

from __future__ import annotations

from dataclasses import replace

from beit_export.triton import TritonRepositoryOptions, repository_configs
from beit_export.triton.options import default_max_image_pixels
from beit_runtime.attention_memory import SERVED_ATTENTION_BYTES, attention_bytes, image_tokens
from beit_runtime.manifest import load_manifest
from beit_runtime.serving_protocol import DEFAULT_MAX_IMAGE_PIXELS


def keeping_size(manifest):
    return replace(manifest, preprocessing=replace(manifest.preprocessing, do_resize=False))


def served_limit(manifest, **options) -> int:
    configs = repository_configs(manifest, TritonRepositoryOptions(model_backend="python", **options), name="m")
    found = {configs[f"m_{role}"]["parameters"]["beit_max_image_pixels"]["string_value"]
             for role in ("preprocess", "postprocess")}
    assert len(found) == 1
    return int(found.pop())


def test_a_keep_size_dynamic_artifact_is_served_up_to_what_its_attention_allows(beit_dynamic_classifier_artifact):
    dynamic = load_manifest(beit_dynamic_classifier_artifact)
    largest = served_limit(keeping_size(dynamic))
    assert largest == default_max_image_pixels(keeping_size(dynamic)) == 524_224 < DEFAULT_MAX_IMAGE_PIXELS
    side = int(largest**0.5)  # 2 heads, 8-pixel patches: a square image of the limit stays within 2 GiB
    tokens = image_tokens(dynamic.input, side, side)
    assert attention_bytes(batch=1, tokens=tokens, heads=2, held=4.0) <= SERVED_ATTENTION_BYTES
    assert served_limit(keeping_size(dynamic), max_image_pixels=2_000_000) == 2_000_000  # the option decides


def test_artifacts_of_a_bounded_size_or_unknown_heads_keep_the_photo_default(beit_dynamic_classifier_artifact):
    dynamic = load_manifest(beit_dynamic_classifier_artifact)
    assert served_limit(dynamic) == DEFAULT_MAX_IMAGE_PIXELS  # its recipe resizes to 32x32
    written_before = replace(dynamic, input=replace(dynamic.input, num_attention_heads=None))
    assert served_limit(keeping_size(written_before)) == DEFAULT_MAX_IMAGE_PIXELS
