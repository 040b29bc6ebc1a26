"""The served attention guard, against a real Triton server: a ``--dynamic-resolution`` artifact whose recipe keeps
each image's size gets a repository pixel limit that keeps one image's attention within
``SERVED_ATTENTION_BYTES`` (an image over it is refused from its header), and one whose recipe resizes to a
shortest edge has its preprocess model refuse an elongated image whose resized tensor would need more. Both are an
``InputError`` naming the fix; the server goes on answering."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from beit_export.cli import main as beit_export
from beit_runtime import Classifier
from beit_runtime.attention_memory import attention_max_image_pixels, check_served_attention
from beit_runtime.errors import ImageTooLargeError, InputError
from beit_runtime.manifest import load_manifest, update_manifest
from beit_runtime.preprocess import Preprocessor
from beit_runtime.remote import RemoteClassifier
from tests.runtime.serving.triton_server import endpoints, signature, start_beit_serve, stop_beit_serve


def _with_recipe(artifact: Path, folder: Path, **recipe) -> Path:
    copy = Path(shutil.copytree(artifact, folder))
    update_manifest(copy, lambda manifest: dataclasses.replace(
        manifest, preprocessing=dataclasses.replace(manifest.preprocessing, **recipe)))
    return copy


@pytest.fixture(scope="module")
def recipes(beit_dynamic_classifier_artifact, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("attention")
    return {"keep": _with_recipe(beit_dynamic_classifier_artifact, root / "keep", do_resize=False),
            "edge": _with_recipe(beit_dynamic_classifier_artifact, root / "edge", size={"shortest_edge": 32})}


@pytest.fixture(scope="module")
def server(serve_layout, recipes, tmp_path_factory):
    root = tmp_path_factory.mktemp("attention-repositories")
    for name, artifact in recipes.items():
        assert beit_export(["triton", str(artifact), "--output", str(root / name), "--name", name,
                            "--model-backend", "python", "--no-warmup"]) == 0
    process, line = start_beit_serve([root / name for name in recipes], log=root / "server.log")
    try:
        yield endpoints(line)[0]
    finally:
        stop_beit_serve(process)


def _png(height: int, width: int) -> bytes:
    return cv2.imencode(".png", np.full((height, width, 3), 90, np.uint8))[1].tobytes()


def test_a_keep_size_artifact_is_served_up_to_the_pixels_its_attention_allows(server, recipes):
    manifest = load_manifest(recipes["keep"], verify_files=False)
    limit = attention_max_image_pixels(manifest.input, Preprocessor.from_record(manifest.preprocessing))
    assert limit is not None and limit < 25_000_000
    side = int(limit**0.5) + 8
    with RemoteClassifier(server, "keep") as remote, Classifier(recipes["keep"]) as local:
        with pytest.raises(InputError, match=f"{limit:,}|{limit}") as refused:
            remote(_png(side, side))
        assert "re-exported with a recipe that resizes" in str(refused.value)  # not "a larger --max-image-pixels"
        assert "--max-image-pixels N" not in str(refused.value)
        assert signature(remote(_png(40, 56), top_k=3)) == signature(local(_png(40, 56), top_k=3))


def test_an_elongated_image_on_a_shortest_edge_artifact_is_refused_by_the_preprocess_model(server, recipes):
    manifest = load_manifest(recipes["edge"], verify_files=False)
    preprocessor = Preprocessor.from_record(manifest.preprocessing)
    strip = (2, 1100)  # 32x17600 after the resize: 8,800 tokens, just over the 2 GiB budget (2.5 GB if run)
    with pytest.raises(ImageTooLargeError):  # the arithmetic the server applies
        check_served_attention(strip, preprocessor=preprocessor, record=manifest.input)
    with RemoteClassifier(server, "edge") as remote, Classifier(recipes["edge"]) as local:
        with pytest.raises(InputError, match="aspect ratio"):
            remote(_png(*strip))
        assert signature(remote(_png(40, 56), top_k=3)) == signature(local(_png(40, 56), top_k=3))
