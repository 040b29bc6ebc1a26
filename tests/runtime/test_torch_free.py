"""beit_runtime never needs torch, transformers or beit_export: run it with those imports blocked."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import skimage.data

import beit_runtime
from beit_runtime import Classifier
from tests.conftest import parse_python

FORBIDDEN = ("torch", "transformers", "beit_export")
RUNTIME_DIR = Path(beit_runtime.__file__).parent

SCRIPT = r"""
import importlib, json, pkgutil, sys
for name in {forbidden!r}:
    sys.modules[name] = None  # any import of these now raises ImportError
import beit_runtime
from beit_runtime import (
    Classifier, FeatureExtractor, MaskedImageModeler, Preprocessor, load_engine, load_manifest, errors,
)
from beit_runtime.errors import BackendUnavailableError
skipped = []
for module in pkgutil.walk_packages(beit_runtime.__path__, "beit_runtime."):
    try:
        importlib.import_module(module.name)
    except (BackendUnavailableError, ImportError) as error:
        if any(bad in str(error) for bad in {forbidden!r}):
            raise
        skipped.append(module.name)  # optional backends (TensorRT) absent here
with Classifier(sys.argv[1]) as classifier:
    results = classifier.classify(sys.argv[2:], top_k=5)
loaded = sorted(
    name for name, module in sys.modules.items() if module is not None and name.split(".")[0] in {forbidden!r}
)
rows = [[[p.label, p.id, p.score] for p in r] for r in results]
print(json.dumps({{"results": rows, "loaded": loaded, "skipped": skipped}}))
"""


def test_classifier_runs_with_torch_transformers_and_exporter_blocked(beit_classifier_artifact, tmp_path):
    paths = []
    for name in ("astronaut", "coffee"):
        path = tmp_path / f"{name}.png"
        cv2.imwrite(str(path), getattr(skimage.data, name)()[:, :, ::-1])
        paths.append(str(path))
    script = SCRIPT.format(forbidden=FORBIDDEN)
    completed = subprocess.run(
        [sys.executable, "-c", script, str(beit_classifier_artifact), *paths],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=_env(), check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["loaded"] == []
    with Classifier(beit_classifier_artifact) as classifier:
        expected = classifier.classify(paths, top_k=5)
    for got, want in zip(report["results"], expected, strict=True):
        assert [row[1] for row in got] == [p.id for p in want]
        np.testing.assert_allclose([row[2] for row in got], [p.score for p in want], atol=1e-6)


def _env() -> dict[str, str]:
    """The child imports this checkout's beit_runtime first, whatever is installed."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(RUNTIME_DIR.parent), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def test_no_source_file_imports_forbidden_packages():
    offenders = []
    for path in sorted(RUNTIME_DIR.rglob("*.py")):
        for node in ast.walk(parse_python(path)):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {name}" for name in names if name.split(".")[0] in FORBIDDEN]
    assert offenders == []
