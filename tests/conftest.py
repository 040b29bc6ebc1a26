"""Shared fixtures: tiny artifacts exported once per session through the real pipeline.

Every ``*_artifact`` fixture is a folder written by ``beit_export.pipeline.export_artifact`` from a
tiny model of ``tests/tiny_models.py`` (32x32 input, 8x8 patches, 4 layers): it went through the
parity gate, so its manifest holds real figures. They are built lazily: a test session that only
touches the runtime's pure-numpy code never pays for them (torch/transformers are imported lazily
too). Treat them as read-only.
"""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


def parse_python(path: Path) -> ast.Module:
    """``ast.parse`` of ``path``, tried again after the spurious "AST constructor recursion depth mismatch"
    SystemError of CPython 3.11 (python/cpython#106905: the AST builder's depth counter is one per interpreter,
    so a thread an earlier test left running that builds an AST at the same moment trips it)."""
    source = path.read_text(encoding="utf-8")
    for attempt in range(3):
        try:
            return ast.parse(source, filename=str(path))
        except SystemError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


# DeiT-style recipe for the ViT artifact: resize 40x40 bicubic, center-crop 32, ImageNet mean/std.
VIT_PROCESSOR_CONFIG = {
    "image_processor_type": "DeiTImageProcessor",
    "do_resize": True,
    "size": {"height": 40, "width": 40},
    "resample": 3,
    "do_center_crop": True,
    "crop_size": {"height": 32, "width": 32},
    "do_rescale": True,
    "rescale_factor": 1 / 255,
    "do_normalize": True,
    "image_mean": [0.485, 0.456, 0.406],
    "image_std": [0.229, 0.224, 0.225],
}
# BEiT recipe as microsoft/beit-base-patch16-224's, scaled to the tiny model: 32x32 BILINEAR, no crop, 0.5/0.5.
BEIT_PROCESSOR_CONFIG = {
    "image_processor_type": "BeitImageProcessor",
    "do_resize": True,
    "size": {"height": 32, "width": 32},
    "resample": 2,
    "do_center_crop": False,
    "do_rescale": True,
    "rescale_factor": 1 / 255,
    "do_normalize": True,
    "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
}


def pytest_sessionfinish(session, exitstatus) -> None:
    """Delete the shared precision graphs' temporary folders (made outside tmp_path: see precision_graphs.py)."""
    import sys

    precision_graphs = sys.modules.get("tests.export.precision_graphs")
    if precision_graphs is not None:
        precision_graphs.remove_tiny_graphs()


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory) -> Iterator[Path]:
    """beit-deploy's caches (optimized graphs, verified digests, plans) in a folder of this test session, not the
    user's ~/.cache (``$BEIT_DEPLOY_CACHE``; inherited by the servers and subprocesses tests start). The Triton
    server of ``beit-serve --setup`` stays where it is (``$BEIT_SERVE_HOME``)."""
    folder = tmp_path_factory.mktemp("beit-deploy-cache")
    previous = os.environ.get("BEIT_DEPLOY_CACHE")
    os.environ["BEIT_DEPLOY_CACHE"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("BEIT_DEPLOY_CACHE", None)
    else:
        os.environ["BEIT_DEPLOY_CACHE"] = previous


def tiny_checkpoint(model_type: str, task: str, *, processor_config=None, **config_overrides):
    """A LoadedCheckpoint of a tiny in-memory model (recipe from ``processor_config``, else the BEiT/ViT one)."""
    from beit_export.checkpoint import checkpoint_from_model, recipe_from_processor_config
    from tests.tiny_models import tiny_model

    model = tiny_model(model_type, task, **config_overrides)
    if processor_config is None:
        processor_config = BEIT_PROCESSOR_CONFIG if model_type == "beit" else VIT_PROCESSOR_CONFIG
    recipe = recipe_from_processor_config(processor_config, config=model.config)
    return checkpoint_from_model(model, preprocessing=recipe, source_name=f"tiny-{model_type}-{task}")


def save_model_folder(model, folder: Path, *, processor_config=None, safe: bool = True) -> Path:
    """``save_pretrained`` plus a preprocessor_config.json: what a downloaded checkpoint folder looks like.
    ``safe=False`` writes a pickled ``pytorch_model.bin`` instead (transformers 5 only writes safetensors)."""
    import torch

    if safe:
        model.save_pretrained(folder)
    else:
        Path(folder).mkdir(parents=True, exist_ok=True)
        model.config.save_pretrained(folder)
        torch.save(model.state_dict(), Path(folder) / "pytorch_model.bin")
    if processor_config is None:
        processor_config = BEIT_PROCESSOR_CONFIG if model.config.model_type == "beit" else VIT_PROCESSOR_CONFIG
    (Path(folder) / "preprocessor_config.json").write_text(json.dumps(processor_config), encoding="utf-8")
    return Path(folder)


def shared_artifact(tmp_path_factory, name: str, export: Callable[[Path], Path]) -> Path:
    """``export(output)``, once for the whole test run: under pytest-xdist the workers share one folder (the first
    to need it exports under a file lock, the others wait and read it; pytest-xdist's documented recipe for
    session fixtures), without xdist a folder of this session. ``name`` must say everything the export depends on.
    ``export_artifact`` moves a finished artifact into place, so a worker killed mid-export leaves none behind."""
    from filelock import FileLock

    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return export(tmp_path_factory.mktemp("artifacts") / name)
    root = tmp_path_factory.getbasetemp().parent / "shared-artifacts"
    root.mkdir(exist_ok=True)
    output = root / name
    with FileLock(str(output) + ".lock"):
        return output if (output / "manifest.json").is_file() else export(output)


def _export(tmp_path_factory, name: str, model_type: str, task: str, *, dynamic_resolution=False,
            export_options: dict | None = None, **overrides) -> Path:
    from beit_export.options import ExportOptions
    from beit_export.pipeline import export_artifact

    options = ExportOptions(dynamic_resolution=dynamic_resolution, **(export_options or {}))
    return shared_artifact(tmp_path_factory, name, lambda output: export_artifact(
        tiny_checkpoint(model_type, task, **overrides), output=output, options=options))


@pytest.fixture(scope="session")
def beit_classifier_artifact(tmp_path_factory) -> Path:
    """Tiny BeitForImageClassification (per-layer relative position bias), fixed 32x32, fp32."""
    return _export(tmp_path_factory, "beit-classifier", "beit", "image-classification")


@pytest.fixture(scope="session")
def beit_fused_norms_artifact(tmp_path_factory) -> Path:
    """Tiny BeitForImageClassification with the GPU-shaped graph: --fp16 --fused-attention --fused-norms."""
    return _export(tmp_path_factory, "beit-fused-norms", "beit", "image-classification",
                   export_options={"fp16": True, "fused_attention": True, "fused_norms": True})


@pytest.fixture(scope="session")
def beit_dynamic_classifier_artifact(tmp_path_factory) -> Path:
    """Tiny BeitForImageClassification exported with --dynamic-resolution (any multiple of 8)."""
    return _export(tmp_path_factory, "beit-classifier-dynamic", "beit", "image-classification",
                   dynamic_resolution=True)


@pytest.fixture(scope="session")
def vit_classifier_artifact(tmp_path_factory) -> Path:
    """Tiny ViTForImageClassification, fixed 32x32, DeiT-style recipe (resize 40, crop 32, ImageNet mean/std)."""
    return _export(tmp_path_factory, "vit-classifier", "vit", "image-classification")


@pytest.fixture(scope="session")
def vit_multilabel_artifact(tmp_path_factory) -> Path:
    """Tiny ViTForImageClassification with problem_type multi_label_classification: sigmoid scores."""
    return _export(tmp_path_factory, "vit-multilabel", "vit", "image-classification",
                   problem_type="multi_label_classification")


@pytest.fixture(scope="session")
def beit_backbone_artifact(tmp_path_factory) -> Path:
    """Tiny BeitModel (mean pooling): outputs last_hidden_state and pooler_output."""
    return _export(tmp_path_factory, "beit-backbone", "beit", "backbone")


@pytest.fixture(scope="session")
def beit_mim_artifact(tmp_path_factory) -> Path:
    """Tiny BeitForMaskedImageModeling with a shared relative position bias; inputs pixel_values, bool_masked_pos."""
    return _export(tmp_path_factory, "beit-mim", "beit", "masked-image-modeling", shared_bias=True)


@pytest.fixture(scope="session")
def beit_segmentation_artifact(tmp_path_factory) -> Path:
    """Tiny BeitForSemanticSegmentation (UperNet, 10 labels), fixed 32x32, with the "postprocess" graph."""
    return _export(tmp_path_factory, "beit-segmentation", "beit", "semantic-segmentation")


@pytest.fixture(scope="session")
def beit_layer_outputs_artifact(tmp_path_factory) -> Path:
    """Tiny BeitForImageClassification exported with --outputs hidden_states,attentions --attention-layers 1,-1."""
    from beit_export.options import ExportOptions
    from beit_export.pipeline import export_artifact

    options = ExportOptions(outputs=("hidden_states", "attentions"), attention_layers="1,-1")
    return shared_artifact(tmp_path_factory, "beit-layer-outputs", lambda output: export_artifact(
        tiny_checkpoint("beit", "image-classification"), output=output, options=options))
