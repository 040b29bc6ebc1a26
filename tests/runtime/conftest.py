"""Fixtures shared by tests/runtime/serving and tests/runtime/remote: one real Triton server per session
(``tests.runtime.serving.triton_server``; registered here, above both folders, so it starts once); and tiny
``--dynamic-resolution`` artifacts whose recipe keeps each image's size or aspect ratio."""

from pathlib import Path

import pytest

from tests.conftest import BEIT_PROCESSOR_CONFIG
from tests.runtime.serving.triton_server import photo_bytes, repositories, serve_layout, served  # noqa: F401

# --dynamic-resolution artifacts whose recipe keeps each image's size or aspect ratio: tensors differ per image.
OWN_SIZE_RECIPE = dict(BEIT_PROCESSOR_CONFIG, do_resize=False)  # each image at its own size
ASPECT_RECIPE = dict(BEIT_PROCESSOR_CONFIG, size={"shortest_edge": 32})  # short side 32, aspect ratio kept


def _export_dynamic(tmp_path_factory, name: str, task: str, recipe: dict, **options) -> Path:
    from beit_export.options import ExportOptions
    from beit_export.pipeline import export_artifact
    from tests.conftest import shared_artifact, tiny_checkpoint

    overrides = {"shared_bias": True} if task == "masked-image-modeling" else {}
    export_options = ExportOptions(dynamic_resolution=True, photos=False, **options)
    return shared_artifact(tmp_path_factory, name, lambda output: export_artifact(
        tiny_checkpoint("beit", task, processor_config=recipe, **overrides), output=output, options=export_options))


@pytest.fixture(scope="session")
def own_size_classifier_artifact(tmp_path_factory) -> Path:
    """Tiny BeitForImageClassification (tiny_model seed 0), do_resize false, --dynamic-resolution --outputs
    attentions (all 4 layers, 2 heads)."""
    return _export_dynamic(tmp_path_factory, "beit-own-size", "image-classification", OWN_SIZE_RECIPE,
                           outputs="attentions")


@pytest.fixture(scope="session")
def aspect_mim_artifact(tmp_path_factory) -> Path:
    """Tiny BeitForMaskedImageModeling (shared bias, seed 0), shortest_edge 32 without crop, --dynamic-resolution."""
    return _export_dynamic(tmp_path_factory, "beit-mim-aspect", "masked-image-modeling", ASPECT_RECIPE)


@pytest.fixture(scope="session")
def own_size_segmentation_artifact(tmp_path_factory) -> Path:
    """Tiny BeitForSemanticSegmentation (seed 0), do_resize false, --dynamic-resolution."""
    return _export_dynamic(tmp_path_factory, "beit-seg-own-size", "semantic-segmentation", OWN_SIZE_RECIPE)
