"""``beit-run evaluate`` where OpenVINO is not installed (made unimportable in a fresh interpreter): asked for by
``--backend openvino`` it is the error (exit 5, the extra named, nothing measured); under the default ``--backend
all`` its variants are rows saying why, with the whole install command."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.hidden_modules import run_without

OPENVINO_MISSING = ('the OpenVINO backend needs openvino, which is not installed; install it with '
                    '`pip install "beit-deploy[openvino]"`')


@pytest.fixture(scope="module")
def class_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    (root / "0").mkdir()
    for index in range(2):
        Image.fromarray(np.full((32, 32, 3), 40 * index, np.uint8)).save(root / "0" / f"{index}.png")
    return root


def test_an_asked_for_backend_that_is_not_installed_exits_5(beit_classifier_artifact, class_folder, tmp_path):
    done = run_without(["openvino"], "beit_runtime.cli:main", [
        "evaluate", str(beit_classifier_artifact), "--data", str(class_folder), "--backend", "openvino",
        "--output", str(tmp_path / "report")])
    assert done.returncode == 5, done.stderr
    assert done.stderr.strip().splitlines()[-1] == f"beit-run evaluate: error: {OPENVINO_MISSING}"
    assert done.stdout == "" and not (tmp_path / "report").exists()


def test_every_backend_lists_the_missing_ones_as_unavailable(beit_classifier_artifact, class_folder):
    done = run_without(["openvino"], "beit_runtime.cli:main", [
        "evaluate", str(beit_classifier_artifact), "--data", str(class_folder)])
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("openvino-")]
    assert rows and all(row.endswith(f"unavailable: {OPENVINO_MISSING}") for row in rows), done.stdout
