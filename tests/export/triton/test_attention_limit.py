"""The default largest image of a served ``--dynamic-resolution`` artifact whose recipe keeps each image's size:
what keeps one image's attention within 2 GiB, not the 25 Mpx photo default (whose attention alone would take
terabytes and kill the server); a larger --max-image-pixels is refused, and the capped default is said."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from beit_export.cli import main
from beit_export.triton import TritonRepositoryOptions, repository_configs
from beit_export.triton.options import TritonOptionsError, default_max_image_pixels
from beit_runtime.attention_memory import SERVED_ATTENTION_BYTES, attention_bytes, image_tokens
from beit_runtime.manifest import load_manifest, update_manifest
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
    assert served_limit(keeping_size(dynamic), max_image_pixels=500_000) == 500_000  # the option decides below it


def test_a_limit_above_what_the_attention_allows_is_refused(beit_dynamic_classifier_artifact):
    """--max-image-pixels 25000000 was accepted for such an artifact: the server's only attention check, gone."""
    keep = keeping_size(load_manifest(beit_dynamic_classifier_artifact))
    for pixels in (524_225, 25_000_000):
        with pytest.raises(TritonOptionsError, match=r"use --max-image-pixels 524224 or less, or re-export"):
            served_limit(keep, max_image_pixels=pixels)


def test_the_command_refuses_a_larger_limit_and_says_when_it_caps_the_default(beit_dynamic_classifier_artifact,
                                                                             tmp_path, capsys):
    keep = Path(shutil.copytree(beit_dynamic_classifier_artifact, tmp_path / "keep"))
    update_manifest(keep, keeping_size)
    argv = ["triton", str(keep), "--no-warmup", "--output"]
    assert main([*argv, str(tmp_path / "raised"), "--max-image-pixels", "25000000"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error: --max-image-pixels 25,000,000 is more than keep can serve" in err
    assert "2,048 MiB per image" in err and not (tmp_path / "raised").exists()
    assert main([*argv, str(tmp_path / "default")]) == 0
    err = capsys.readouterr().err
    assert "serving images of at most 524,224 pixels (--max-image-pixels; the photo default 25,000,000 is capped" in err
    assert "attention within 2,048 MiB on ONNX Runtime" in err
    assert main([*argv, str(tmp_path / "given"), "--max-image-pixels", "1000"]) == 0
    assert "serving images of at most" not in capsys.readouterr().err  # a limit given is not a note


def test_artifacts_of_a_bounded_size_or_unknown_heads_keep_the_photo_default(beit_dynamic_classifier_artifact):
    dynamic = load_manifest(beit_dynamic_classifier_artifact)
    assert served_limit(dynamic) == DEFAULT_MAX_IMAGE_PIXELS  # its recipe resizes to 32x32
    written_before = replace(dynamic, input=replace(dynamic.input, num_attention_heads=None))
    assert served_limit(keeping_size(written_before)) == DEFAULT_MAX_IMAGE_PIXELS
