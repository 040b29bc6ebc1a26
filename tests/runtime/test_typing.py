"""Users' code type-checks the way README.md's "Runtime" section writes it: ``mypy --strict`` on small scripts.

One image of a type that says so (a path, bytes, a PIL image) gives one result, a list or tuple gives a list, and a
numpy array (one image, or a 4-D batch) gives either; wrong uses of those results, and misspelt or mistyped run
options (``RunKeywords``), are reported.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import beit_runtime

pytest.importorskip("mypy")

REPO = Path(beit_runtime.__file__).resolve().parent.parent

# README's calls, and the other task methods with each kind of input: all of it must pass --strict.
GOOD = '''
import io
import tempfile
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image

from beit_runtime import (
    Classifier, FeatureExtractor, Features, MaskedImageModeler, Prediction, SegmentationResult, Segmenter,
)
from beit_runtime.remote import RemoteClassifier, RemoteFeatureExtractor, RemoteSegmenter


def classify(folder: str) -> None:
    with Classifier(folder) as classifier:
        for p in classifier("cat.jpg", top_k=3):
            print(f"{p.score:.3f}  {p.label}")
        one: list[Prediction] = classifier.classify("a.jpg")
        from_path: list[Prediction] = classifier(Path("a.jpg"))
        from_pil: list[Prediction] = classifier(Image.new("RGB", (8, 8)))
        from_bytes: list[Prediction] = classifier(b"encoded")
        mixed: list[list[Prediction]] = classifier(["a.jpg", np.zeros((8, 8, 3), np.uint8), Path("b.png")])
        paths: list[Path] = [Path("a.jpg")]
        listed: list[list[Prediction]] = classifier.classify(paths, top_k=1)
        tupled: list[list[Prediction]] = classifier(("a.jpg", b"encoded"))
        either = classifier(np.zeros((8, 8, 3), np.uint8))  # one image or a 4-D batch: the union
        upload: list[Prediction] = classifier(io.BytesIO(b"encoded"))  # an open binary file is one image
        with open("a.jpg", "rb") as opened, tempfile.SpooledTemporaryFile() as spooled:
            from_file: list[Prediction] = classifier(opened)
            spooled_one: list[Prediction] = classifier.classify(spooled)
            print(from_file, spooled_one, upload, classifier.attention_maps(opened).shape)
        print(one[0].label, from_path, from_pil, from_bytes, mixed[0][0].score, listed, tupled, either)
        logits: np.ndarray = classifier.logits(paths)
        one_map: np.ndarray = classifier.attention_maps("a.jpg", layer=-1)
        maps: list[np.ndarray] = classifier.attention_maps(["a.jpg", "b.jpg"])
        print(logits.shape, one_map.shape, len(maps), classifier.hidden_states("a.jpg").shape)


def segment(upload: IO[bytes]) -> None:
    result = Segmenter("artifacts/demo", precision="int8", batch_size=4, providers=["CPUExecutionProvider"])("s.png")
    uploaded: SegmentationResult = Segmenter("artifacts/demo")(upload)
    print(uploaded.labels.shape)
    print(result.labels.shape, result.present())
    slide = Segmenter("artifacts/ade", mode="slide", stride=(426, 426))
    results: list[SegmentationResult] = slide.segment(["a.png", "b.png"], return_scores=True)
    print(results[0].scores, result == results[0], result in results)


def extract(folder: str) -> None:
    extractor = FeatureExtractor(folder)
    pooled: np.ndarray = extractor("a.jpg")
    features: Features = extractor.extract(["a.jpg", "b.jpg"], patch_tokens=True)
    print(pooled.shape, features.patch_tokens.shape)


def served(url: str, upload: IO[bytes]) -> None:
    with RemoteClassifier(url, "beit-base") as remote:
        one: list[Prediction] = remote("cat.jpg", top_k=3)
        many: list[list[Prediction]] = remote.classify(["a.jpg", Path("b.jpg")])
        maps: list[np.ndarray] = remote.attention_maps(["a.jpg"])
        print(one[0].label, many[0][0].score, len(maps), remote.hidden_states("a.jpg").shape)
        with open("a.jpg", "rb") as opened:  # an open binary file is one image, as in-process
            from_file: list[Prediction] = remote(opened)
            one_map: np.ndarray = remote.attention_maps(opened, layer=-1)
            print(from_file, one_map.shape, remote.classify(io.BytesIO(b"encoded"))[0].label)
    uploaded: SegmentationResult = RemoteSegmenter(url, "demo")(upload)
    print(uploaded.labels.shape)
    labels: np.ndarray = RemoteSegmenter(url, "demo").segment("scene.png").labels
    vectors: np.ndarray = RemoteFeatureExtractor(url, "dino")(["a.jpg", "b.jpg"])
    print(labels.shape, vectors.shape)


def predict(folder: str) -> None:
    modeler = MaskedImageModeler(folder)
    ids: np.ndarray = modeler.predict("a.jpg", modeler.default_mask("a.jpg"))
    print(ids.shape, modeler.patch_grid(Path("a.jpg")))
'''

# Each line marked "# E: code" must be reported with that error code, and nothing else.
BAD = '''
import numpy as np

from beit_runtime import Classifier, Segmenter
from beit_runtime.remote import RemoteSegmenter
from beit_runtime import Segmentr  # E: attr-defined

segmenter = Segmenter("artifacts/demo")
print(segmenter(["a.png", "b.png"]).labels)  # E: attr-defined
print(segmenter(np.zeros((8, 8, 3), np.uint8)).labels)  # E: union-attr
print(Classifier("artifacts/beit-base")("cat.jpg")[0][0])  # E: index
Classifier("artifacts/beit-base")(3)  # E: call-overload
Classifier("artifacts/beit-base")([3])  # E: list-item
Classifier("artifacts/beit-base", batchsize=16)  # E: call-arg
Segmenter("artifacts/demo", mode="slide", batch_size="16")  # E: arg-type
print(RemoteSegmenter("127.0.0.1:8000", "demo")(["a.png"]).labels)  # E: attr-defined
'''


def _mypy(tmp_path: Path, *scripts: Path) -> list[tuple[str, int, str]]:
    """(file name, line, error code) of every error ``mypy --strict`` reports on ``scripts``."""
    env = {**os.environ, "MYPYPATH": str(REPO)}
    completed = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--no-error-summary",
         "--show-error-codes", "--no-color-output", "--cache-dir", str(tmp_path / "cache"), *map(str, scripts)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env, check=False,
    )
    errors = re.findall(r"^(\S+?\.py):(\d+): error: .*\[([\w-]+)\]$", completed.stdout, flags=re.MULTILINE)
    assert completed.returncode in (0, 1), completed.stdout + completed.stderr
    return [(Path(name).name, int(line), code) for name, line, code in errors]


def test_readme_calls_pass_strict_and_wrong_uses_are_reported(tmp_path):
    good, bad = tmp_path / "good.py", tmp_path / "bad.py"
    good.write_text(GOOD)
    bad.write_text(BAD)
    errors = _mypy(tmp_path, good, bad)
    assert [error for error in errors if error[0] == "good.py"] == []
    expected = sorted(("bad.py", number, line.split("# E: ")[1])
                      for number, line in enumerate(BAD.splitlines(), start=1) if "# E: " in line)
    assert sorted(error for error in errors if error[0] == "bad.py") == expected
