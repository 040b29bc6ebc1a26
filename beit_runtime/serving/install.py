"""``beit-serve --setup``: a CPU Triton server and its Python environment, from package registries only.

Where: ``$BEIT_SERVE_HOME`` (default ``~/.cache/beit-deploy/triton``), never inside a model repository
(every folder there is taken for a model)::

    server/pytriton/tritonserver/   bin/tritonserver, backends/python/ (+ the stub for this python)
    env-py3.X/                      venv the python models run in (numpy<2, opencv 4.10, onnxruntime, pillow)

- Server: Triton 2.51.0 as shipped inside the ``nvidia-pytriton==0.7.0`` wheel (python backend only,
  no onnxruntime/TensorRT backend), downloaded with ``pip download --no-deps`` and unzipped, never
  installed: pytriton's own dependencies (numpy<2 among them) stay out of every environment. Its
  binaries find their libraries through their RPATH; the stub for this interpreter's version is
  copied into ``backends/python/`` and zip's lost exec bits are restored.
- Environment: Triton 2.51's python backend silently corrupts tensors under numpy 2, so the python
  models run in a venv with numpy<2 and an OpenCV build that accepts it (4.10.x). onnxruntime and
  Pillow are pinned to the versions of the interpreter running the setup, so the served results are
  the in-process results (Pillow 13 changed how downscales are computed). beit_runtime itself is not
  installed there: each repository carries its own copy (see ``beit_export.triton.vendoring``).
  ``lib/`` gets a link to this interpreter's shared libpython, which the stub loads (``beit-serve``
  puts ``env/lib`` on its LD_LIBRARY_PATH), instead of whichever libpython3.X the system has.

Idempotent: each step is skipped when its result is in place (the env's record lists its
requirements; a change of them rebuilds it); each subprocess gets what is left of ``timeout_s``.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ..errors import ServeSetupError

PYTRITON = "nvidia-pytriton==0.7.0"  # carries Triton 2.51.0
TRITON_VERSION = "2.51.0"
HOME_VARIABLE = "BEIT_SERVE_HOME"
ENV_RECORD = "beit-serve-env.json"
STUB = "triton_python_backend_stub"
ENV_CHECK = "import numpy, cv2, onnxruntime, PIL; assert numpy.__version__ < '2'"


def python_version() -> str:
    """This interpreter's "3.X" (the stub Triton's python backend needs matches it)."""
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def backend_requirements() -> list[str]:
    """What the python models need in the server's interpreter (pinned to this interpreter's versions)."""
    def pinned(distribution: str, fallback: str) -> str:
        try:
            return f"{distribution}=={metadata.version(distribution)}"
        except metadata.PackageNotFoundError:
            return f"{distribution}{fallback}"

    return ["numpy>=1.24,<2", "opencv-python-headless>=4.10,<4.11", pinned("onnxruntime", ">=1.30"),
            pinned("pillow", ">=13")]


def serve_home() -> Path:
    return Path(os.environ.get(HOME_VARIABLE) or "~/.cache/beit-deploy/triton").expanduser().absolute()


@dataclass(frozen=True)
class ServeLayout:
    """Where ``--setup`` puts things under ``home``."""

    home: Path

    @property
    def triton_home(self) -> Path:
        return self.home / "server" / "pytriton" / "tritonserver"

    @property
    def binary(self) -> Path:
        return self.triton_home / "bin" / "tritonserver"

    @property
    def backends(self) -> Path:
        return self.triton_home / "backends"

    @property
    def env_dir(self) -> Path:
        return self.home / f"env-py{python_version()}"

    @property
    def env_python(self) -> Path:
        return self.env_dir / "bin" / "python"

    def server_ready(self) -> bool:
        return os.access(self.binary, os.X_OK) and (self.backends / "python" / STUB).is_file()

    def env_ready(self) -> bool:
        record = self.env_dir / ENV_RECORD
        if not record.is_file():
            return False
        recorded: object = json.loads(record.read_text(encoding="utf-8")).get("requirements")
        return recorded == backend_requirements()


class _Clock:
    def __init__(self, timeout_s: float, log: Callable[[str], None]) -> None:
        self.start, self.timeout_s, self.log = time.monotonic(), timeout_s, log

    def left(self, step: str) -> float:
        left = self.timeout_s - (time.monotonic() - self.start)
        if left <= 0:
            raise ServeSetupError(f"beit-serve --setup ran out of its {self.timeout_s:.0f} s before '{step}'")
        return left

    def run(self, step: str, command: list[str]) -> None:
        self.log(f"[setup {time.monotonic() - self.start:6.1f}s] {step}")
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=self.left(step), check=False)
        except subprocess.TimeoutExpired as error:
            raise ServeSetupError(f"beit-serve --setup: '{step}' did not finish within the time left") from error
        if done.returncode != 0:
            output = (done.stderr or done.stdout)[-2000:]
            raise ServeSetupError(f"beit-serve --setup: '{step}' failed ({done.returncode}): {output}")


def setup(home: Path | None = None, *, timeout_s: float = 900.0, log: Callable[[str], None] = print) -> ServeLayout:
    """Make ``home`` hold a runnable server and environment (see the module docstring); returns its layout."""
    layout = ServeLayout(Path(home) if home else serve_home())
    libpython = shared_libpython()
    layout.home.mkdir(parents=True, exist_ok=True)
    clock = _Clock(timeout_s, log)
    if not layout.server_ready():
        _install_server(layout, clock)
    if not layout.env_ready():
        _install_env(layout, clock)
    _link_libpython(layout, libpython)
    log(f"[setup {time.monotonic() - clock.start:6.1f}s] ready: {layout.binary} (Triton {TRITON_VERSION}), "
        f"env {layout.env_dir}")
    return layout


def _install_server(layout: ServeLayout, clock: _Clock) -> None:
    downloads = layout.home / "downloads"
    clock.run(f"download {PYTRITON} (server binary only, no dependencies)",
              [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", str(downloads),
               PYTRITON])
    wheel = sorted(downloads.glob("nvidia_pytriton-*.whl"))[-1]
    staging = Path(tempfile.mkdtemp(prefix=".server.partial-", dir=layout.home))
    try:
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(staging)
        triton = staging / "pytriton" / "tritonserver"
        stubs = triton / "python_backend_stubs" / python_version()
        if not (stubs / STUB).is_file():
            raise ServeSetupError(f"{wheel.name} has no python backend stub for python {python_version()}")
        shutil.copyfile(stubs / STUB, triton / "backends" / "python" / STUB)
        for path in [triton / "bin" / "tritonserver", triton / "backends" / "python" / STUB]:
            path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        shutil.rmtree(layout.home / "server", ignore_errors=True)
        staging.rename(layout.home / "server")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _install_env(layout: ServeLayout, clock: _Clock) -> None:
    shutil.rmtree(layout.env_dir, ignore_errors=True)
    clock.run(f"create the python backend's environment {layout.env_dir}",
              [sys.executable, "-m", "venv", str(layout.env_dir)])
    requirements = backend_requirements()
    clock.run(f"install {' '.join(requirements)}",
              [str(layout.env_python), "-m", "pip", "install", "-q", *requirements])
    clock.run("check the environment", [str(layout.env_python), "-c", ENV_CHECK])
    record = {"requirements": requirements, "python": sys.version.split()[0],
              "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    (layout.env_dir / ENV_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def shared_libpython() -> Path:
    """This interpreter's shared libpython, which Triton's python stub needs."""
    libdir, soname = sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("INSTSONAME")
    source = Path(libdir or "") / (soname or "")
    if not soname or not source.is_file():
        raise ServeSetupError(
            f"this python ({sys.executable}) has no shared libpython ({source}); Triton's python stub needs one: "
            "use a python built with --enable-shared (pyenv: PYTHON_CONFIGURE_OPTS=--enable-shared)"
        )
    return source


def _link_libpython(layout: ServeLayout, source: Path) -> None:
    """ENV/lib/libpython3.X.so.1.0 -> ``source`` (the stub loads it from LD_LIBRARY_PATH, see ``launcher``)."""
    link = layout.env_dir / "lib" / source.name
    if link.is_symlink() and os.readlink(link) == str(source):
        return
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(source)
