"""The --kubernetes folders of the tiny classifier (memory measured on the real local Triton, once per
session) and segmenter (memory given), written through the real CLI; helpers to read them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from beit_export.cli import main as beit_export
from tests.runtime.serving.triton_server import serve_layout  # noqa: F401  (beit-serve --setup, once)

CLASSIFIER_OPTIONS = ("--image", "registry.example.com/beit/cls:1.0", "--grace-period", "20", "--replicas", "2",
                      "--max-replicas", "5", "--max-batch-size", "4")
SEGMENTER_OPTIONS = ("--model-backend", "python", "--memory-request-mib", "700", "--namespace", "ml",
                     "--prestop-sleep", "0", "--app-name", "segmenter")


def documents(folder: Path) -> dict[str, dict]:
    """{path in folder: the one YAML document it holds} for every manifest."""
    found = {}
    for path in sorted([*folder.glob("kubernetes/*.yaml"), *folder.glob("kserve/*.yaml")]):
        loaded = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        assert len(loaded) == 1, path
        found[path.relative_to(folder).as_posix()] = loaded[0]
    return found


@pytest.fixture(scope="session")
def classifier_folder(serve_layout, beit_classifier_artifact, tmp_path_factory) -> Path:  # noqa: F811
    root = tmp_path_factory.mktemp("kubernetes-cls")
    code = beit_export(["triton", str(beit_classifier_artifact), "--output", str(root / "repo"),
                        "--kubernetes", str(root / "deploy"), *CLASSIFIER_OPTIONS])
    assert code == 0
    return root / "deploy"


@pytest.fixture(scope="session")
def segmenter_folder(beit_segmentation_artifact, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("kubernetes-seg")
    code = beit_export(["triton", str(beit_segmentation_artifact), "--output", str(root / "repo"),
                        "--kubernetes", str(root / "deploy"), *SEGMENTER_OPTIONS])
    assert code == 0
    return root / "deploy"


@pytest.fixture(scope="session", params=["classifier", "segmenter"])
def folder(request) -> Path:
    return Path(request.getfixturevalue(f"{request.param}_folder"))
