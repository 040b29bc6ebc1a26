"""The beit_runtime copy each python model carries, and the ``model.py`` that imports it first.

Why vendored rather than installed into the serving environment: the code the python backend runs
is then byte for byte the beit_runtime that wrote the repository (its preprocessing is the one the
parity checks ran), whatever is installed where the repository is served; a stock tritonserver or
NGC container needs only third-party packages in its python (numpy<2, opencv-python-headless,
onnxruntime, pillow), and ``beit-serve`` never has to notice and refresh a stale copy in an
environment shared by several repositories. It costs about 0.5 MB per python model. ``model.py``
puts its own folder first on ``sys.path`` so the copy wins over any beit_runtime in site-packages.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import beit_runtime

PACKAGE_DIR = Path(beit_runtime.__file__).resolve().parent
_SKIP = ("__pycache__",)

MODEL_PY = '''"""Triton python model {model!r} ({role}), written by beit-export triton (beit-deploy {version}).

Runs beit_runtime.triton_models.{role} from the beit_runtime copied beside this file (sha256 {digest}).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # this folder's beit_runtime wins over site-packages

from beit_runtime.triton_models.{role} import TritonPythonModel  # noqa: E402,F401
'''


def runtime_files(package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """beit_runtime's files (sources and package data, no caches), sorted, relative to the package."""
    return sorted(path.relative_to(package_dir) for path in package_dir.rglob("*")
                  if path.is_file() and not any(part in _SKIP for part in path.parts) and path.suffix != ".pyc")


def runtime_digest(package_dir: Path = PACKAGE_DIR) -> str:
    """sha256 over beit_runtime's file names and contents: which runtime a repository carries."""
    digest = hashlib.sha256()
    for relative in runtime_files(package_dir):
        digest.update(relative.as_posix().encode() + b"\0" + (package_dir / relative).read_bytes() + b"\0")
    return digest.hexdigest()


def vendor_runtime(version_dir: Path) -> None:
    """Copy beit_runtime into ``version_dir/beit_runtime``."""
    target = version_dir / "beit_runtime"
    for relative in runtime_files():
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PACKAGE_DIR / relative, target / relative)


def model_py(*, model: str, role: str, version: str, digest: str) -> str:
    return MODEL_PY.format(model=model, role=role, version=version, digest=digest[:16])
