"""Start a ``tritonserver`` on a repository, wait until every model is ready, stop it cleanly (stdlib only).

Flags and why (measured with Triton 2.51 on CPU): ``--http-address``/``--grpc-address`` (Triton
listens on 0.0.0.0 otherwise; an IPv6 address is written as each server takes it: ``addresses``);
``--backend-directory`` when the server is not under /opt/tritonserver (python models fail to load
without it); ``--model-control-mode=explicit --load-model=*`` +
``--strict-readiness`` + ``--exit-on-error`` (every model loads at start and the endpoints open only
once all have; a model that fails to load stops the server instead of serving half a repository;
explicit mode lets ``beit-serve`` unload models to turn readiness false before a stop, and reload a
model whose stub died: ``control``); ``--disable-auto-complete-config`` (the configs are complete;
auto-complete starts an extra stub per model); ``--allow-metrics=false`` unless a metrics port is
asked for (no NVML/DCGM attempts on CPU); ``--pinned-memory-pool-byte-size=0`` on CPU-only servers;
``--exit-timeout-secs`` bounds how long a stop waits for idle keep-alive client connections (Triton
waits for every open connection otherwise); ``--http-max-input-size`` (bytes; only servers that know
the flag, Triton >= 2.58) caps a request's body; ``shm-region-prefix-name`` names this server's
/dev/shm regions and marks its python stubs (``stubs``), so the ones a crash leaves can be removed.

The python stubs inherit the server's environment: with a ``python_env`` (the venv of ``beit-serve
--setup``), ``PATH`` and ``LD_LIBRARY_PATH`` start with its ``bin``/``lib`` (as Triton's own
``EXECUTION_ENV_PATH`` does by sourcing ``bin/activate``), so the embedded interpreter finds the venv
and loads the libpython linked there; ``PYTHONPATH``/``PYTHONHOME`` are dropped so nothing shadows it.
That keeps the repository free of machine-specific paths. The server runs in its own session (a
terminal's Ctrl-C reaches only ``beit-serve``, which stops it in order) and gets SIGTERM if the
process that started it dies (Linux ``PR_SET_PDEATHSIG``). Its output goes to the log through
``triton_log.ServerLog``, which keeps its error lines: a server that exits before it is ready is
reported with them (``wait_ready``).
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from ..errors import ArtifactError, ServerError, ServerTimeoutError
from .addresses import free_port, grpc_address, host_port, http_address, probe_host
from .stubs import kill_stubs
from .triton_log import ServerLog

__all__ = ["LaunchPlan", "TritonProcess", "batch_sizes", "free_port", "knows_flag", "model_backends",
           "repository_paths"]

_PR_SET_PDEATHSIG = 1
_PLATFORM_BACKENDS = {"onnxruntime_onnx": "onnxruntime", "tensorrt_plan": "tensorrt"}
_BACKEND_FIELD = re.compile(r'^(backend|platform)\s*:\s*"([^"]*)"', re.MULTILINE)  # top-level fields only


@dataclass(frozen=True)
class LaunchPlan:
    """One server: which binary, which repositories, where it listens, which python the stubs use."""

    binary: Path
    repositories: tuple[Path, ...]
    host: str = "127.0.0.1"
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int | None = None
    backends: Path | None = None
    python_env: Path | None = None
    cpu_only: bool = True
    log_verbose: int = 0
    exit_timeout_s: int = 5
    max_input_bytes: int | None = None
    extra_flags: tuple[str, ...] = field(default_factory=tuple)

    def command(self, shm_prefix: str) -> list[str]:
        flags = [str(self.binary), *[f"--model-repository={path}" for path in self.repositories],
                 f"--http-address={http_address(self.host)}", f"--http-port={self.http_port}",
                 f"--grpc-address={grpc_address(self.host)}", f"--grpc-port={self.grpc_port}",
                 "--model-control-mode=explicit", "--load-model=*", "--strict-readiness=true",
                 "--exit-on-error=true",
                 "--disable-auto-complete-config", f"--exit-timeout-secs={self.exit_timeout_s}",
                 f"--backend-config=python,shm-region-prefix-name={shm_prefix}", f"--log-verbose={self.log_verbose}"]
        if self.backends is not None:
            flags.append(f"--backend-directory={self.backends}")
        if self.metrics_port is None:
            flags.append("--allow-metrics=false")
        else:
            flags += ["--allow-metrics=true", f"--metrics-address={http_address(self.host)}",
                      f"--metrics-port={self.metrics_port}"]
        if self.cpu_only:
            flags.append("--pinned-memory-pool-byte-size=0")
        if self.max_input_bytes is not None:
            flags.append(f"--http-max-input-size={self.max_input_bytes}")
        return flags + list(self.extra_flags)

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.python_env is not None:
            for name in ("PYTHONPATH", "PYTHONHOME"):
                env.pop(name, None)
            env["VIRTUAL_ENV"] = str(self.python_env)
            env["PATH"] = os.pathsep.join([str(self.python_env / "bin"), env.get("PATH", "")])
            libraries = [str(self.python_env / "lib"), env.get("LD_LIBRARY_PATH", "")]
            env["LD_LIBRARY_PATH"] = os.pathsep.join(libraries).rstrip(os.pathsep)
        return env


def knows_flag(binary: Path, flag: str) -> bool:
    """Whether ``binary --help`` lists ``flag`` (e.g. ``--http-max-input-size``, new in Triton 2.58)."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=30, check=False)
        return f"{flag} " in done.stdout + done.stderr
    return False


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class TritonProcess:
    """A running tritonserver (``start``), its readiness (``wait_ready``) and its orderly end (``stop``)."""

    def __init__(self, plan: LaunchPlan, *, log: IO[str] | None = None) -> None:
        self.plan = plan
        self.shm_prefix = f"beit_serve_{os.getpid()}_{plan.http_port}_"
        self.log = ServerLog(log if log is not None else sys.stderr)  # its error lines, for wait_ready
        try:
            # preexec_fn runs only prctl (no locks, no imports): safe even when the caller has threads
            self.process = subprocess.Popen(
                plan.command(self.shm_prefix), env=plan.environment(), stdout=self.log.stdout,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 (see above; the stdlib has no other way to PDEATHSIG)
            )
        except BaseException:
            self.log.started(ok=False)
            raise
        self.log.started()

    @property
    def probe_host(self) -> str:
        return probe_host(self.plan.host)

    @property
    def http_url(self) -> str:
        return host_port(self.probe_host, self.plan.http_port)

    @property
    def grpc_url(self) -> str:
        return host_port(self.probe_host, self.plan.grpc_port)

    def request(self, path: str, *, body: dict[str, Any] | None = None, timeout_s: float = 5.0) -> tuple[int, Any]:
        """(status, parsed JSON or text) of a GET (or a POST when ``body`` is given) to the HTTP endpoint."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"http://{self.http_url}{path}", data=data,
                                         method="GET" if body is None else "POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as reply:
                status, text = reply.status, reply.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode()
        try:
            return status, json.loads(text) if text else None
        except json.JSONDecodeError:
            return status, text

    def model_states(self) -> dict[str, str]:
        """{model: state} from the repository index (READY, LOADING, UNLOADING, UNAVAILABLE)."""
        status, index = self.request("/v2/repository/index", body={})
        if status != 200:
            raise ServerError(f"repository index: HTTP {status}: {index}")
        return {entry["name"]: entry.get("state", "") for entry in index or []}

    def control(self, model: str, action: Literal["load", "unload"], *, timeout_s: float) -> None:
        """``load`` or ``unload`` one model (explicit model control). Triton 2.51 also unloads the ensembles
        that use an unloaded model, and loads them again with it."""
        body = {"parameters": {"unload_dependents": False}} if action == "unload" else {}
        status, answer = self.request(f"/v2/repository/models/{model}/{action}", body=body, timeout_s=timeout_s)
        if status != 200:
            raise ServerError(f"{action} of model '{model}': HTTP {status}: {answer}")

    def wait_ready(self, *, timeout_s: float = 300.0, cancelled: Callable[[], bool] | None = None) -> list[str]:
        """Block until the server reports ready (or ``cancelled()``: then []); the names of its ready models."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if cancelled is not None and cancelled():
                return []
            if self.process.poll() is not None:
                self.clean_up()
                why = self.log.error_message()
                raise ServerError(f"tritonserver exited with {self.process.returncode} before it was ready"
                                  f"{': ' + why if why else ''} (its log: {self.log.place})")
            with contextlib.suppress(OSError):
                if self.request("/v2/health/ready", timeout_s=2.0)[0] == 200:
                    index = self.request("/v2/repository/index", body={})[1] or []
                    return sorted(entry["name"] for entry in index if entry.get("state") == "READY")
            time.sleep(0.1)
        raise ServerTimeoutError(f"tritonserver was not ready after {timeout_s:.0f} s (models still loading, or one "
                                 "hangs: see the server's log); raise --ready-timeout or fix what the log names")

    def model_statistics(self, model: str) -> dict[str, Any]:
        status, body = self.request(f"/v2/models/{model}/stats")
        if status != 200:
            raise ServerError(f"statistics of '{model}': HTTP {status}: {body}")
        statistics: dict[str, Any] = body["model_stats"][0]
        return statistics

    def stop(self, *, signum: int = signal.SIGTERM, wait_s: float | None = None) -> int:
        """Ask the server to stop, wait (SIGKILL after ``wait_s``, default the exit timeout + 10 s), then kill
        the stubs it left and remove leftover shm; its exit code (negative: killed by that signal)."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(self.plan.exit_timeout_s + 10 if wait_s is None else wait_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.clean_up()
        return self.process.returncode

    def clean_up(self) -> None:
        """After the server exited: SIGKILL the python stubs it left, remove its /dev/shm regions."""
        kill_stubs(self.shm_prefix)
        self.remove_leftover_shm()
        self.log.finish()  # the server's last lines reach the log before beit-serve closes it

    def remove_leftover_shm(self) -> list[str]:
        left = glob.glob(f"/dev/shm/{self.shm_prefix}*")
        for path in left:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
        return left


def batch_sizes(statistics: dict[str, Any]) -> dict[int, int]:
    """{batch size: executions} from a model's statistics (``/v2/models/NAME/stats``)."""
    return {int(entry["batch_size"]): int(entry["compute_infer"]["count"])
            for entry in statistics.get("batch_stats") or []}


def repository_paths(paths: Sequence[str | Path]) -> tuple[Path, ...]:
    """Absolute repository folders, each holding at least one model (a folder with config.pbtxt)."""
    resolved = []
    for path in paths:
        folder = Path(path).expanduser().absolute()
        if not folder.is_dir():
            raise ArtifactError(f"repository {folder} {'is a file' if folder.exists() else 'does not exist'}; pass the "
                                "folder `beit-export triton ARTIFACT --output REPO` wrote")
        models = [child for child in folder.iterdir() if child.is_dir()]
        if (folder / "manifest.json").is_file():
            raise ArtifactError(f"{folder} is an artifact, not a Triton model repository: write one from it with "
                                f"`beit-export triton {path} --output REPO` and serve REPO")
        if not any((child / "config.pbtxt").is_file() for child in models):
            raise ArtifactError(f"{folder} is not a Triton model repository (no model folder with a config.pbtxt); "
                                "write one with `beit-export triton ARTIFACT --output REPO`")
        resolved.append(folder)
    return tuple(resolved)


def model_backends(repositories: Sequence[Path]) -> dict[Path, str]:
    """{model folder: the Triton backend its config.pbtxt runs on ("ensemble" for an ensemble)}; an unreadable
    config.pbtxt is left out (the server reports it when it loads the model)."""
    found = {}
    for repository in repositories:
        for config in sorted(Path(repository).glob("*/config.pbtxt")):
            with contextlib.suppress(OSError):
                for key, value in _BACKEND_FIELD.findall(config.read_text(encoding="utf-8", errors="replace")):
                    found[config.parent] = _PLATFORM_BACKENDS.get(value, value) if key == "platform" else value
    return found
