"""The memory a served repository needs, measured on the local Triton (``beit-serve --setup``'s server).

How: the real ``beit-serve`` serves the repository (``python -m beit_runtime.serving.server``, loopback,
free ports, metrics on as in the image) and is waited for until it prints its ready line; then ``rounds`` x
``max_batch_size`` x ``instances`` requests of the largest request the server accepts are sent, ``max_batch_size``
x ``instances`` at a time, to the ensemble: one PNG of the repository's ``--max-image-pixels`` (4:3, smooth
colour ramps), padded after its end to the 64 MiB an encoded image may have (segmentation outputs are at its
size). ``writer.measure`` serves a copy whose batchers wait for full batches, so every instance holds
``max_batch_size`` of them at once. Every answer must be HTTP 200; then the peak resident set (``VmHWM`` in
``/proc/PID/status``) of beit-serve, its tritonserver and each python stub (``beit_runtime.serving.stubs``) is
read and summed, with the size of the server's /dev/shm regions (the python backend grows them to the largest
batch and keeps them), and beit-serve is stopped with SIGTERM. The sum over-counts the shared pages
(libraries, the /dev/shm tensors both sides map): an upper bound, the safe side for a request.
"""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

from beit_runtime import serving_protocol as protocol
from beit_runtime.planning.machine import cpu_model_name
from beit_runtime.serving import check
from beit_runtime.serving.install import ServeLayout, serve_home
from beit_runtime.serving.launcher import free_port
from beit_runtime.serving.stubs import stub_processes
from beit_runtime.serving_protocol import MAX_IMAGE_BYTES, PILLOW_MAX_IMAGE_PIXELS

from ...errors import ExportError
from .options import KubernetesOptionsError

REQUEST_TIMEOUT_S = 600.0


class MemoryMeasurementError(ExportError):
    """Serving the repository on the local Triton to measure its memory failed; the message has the log."""


@dataclass(frozen=True)
class MemoryMeasurement:
    """Peak resident memory of a served repository: the sum over the server and its stubs, MiB."""

    peak_mib: float
    processes: dict[str, float] = field(default_factory=dict)  # "tritonserver" / stub's model: VmHWM MiB
    requests: int = 0
    batch_size: int = 0
    shm_mib: float = 0.0  # the server's /dev/shm regions after the requests
    image: str = ""  # "5773x4330 PNG of 64 MiB"
    measured: str = ""  # ISO time (UTC)
    cpu: str = ""
    server: str = ""  # "Triton 2.51.0"

    def describe(self) -> str:
        return (f"{self.peak_mib:.0f} MiB peak RSS (VmHWM, sum of beit-serve, tritonserver and "
                f"{len(self.processes) - 2} python stubs) and {self.shm_mib:.0f} MiB of /dev/shm after "
                f"{self.requests} requests of one {self.image} (the largest accepted) at batch size "
                f"{self.batch_size}, {self.server} on {self.cpu}, {self.measured}")


def local_server() -> ServeLayout | None:
    """``beit-serve --setup``'s layout when its server and environment are ready, else None."""
    layout = ServeLayout(serve_home())
    return layout if layout.server_ready() and layout.env_ready() else None


def require_local_server() -> ServeLayout:
    layout = local_server()
    if layout is None:
        raise KubernetesOptionsError(
            f"no local Triton server is set up in {serve_home()} to measure the memory the pods need: run "
            "`beit-serve --setup` once, or give the request yourself with --memory-request-mib N")
    return layout


def measure_peak(repository: Path, *, rounds: int = 3, ready_timeout_s: float = 300.0) -> MemoryMeasurement:
    """Serve ``repository`` (python backend only) with ``beit-serve`` on the local server, send the requests,
    read the peak memory of beit-serve, tritonserver and the stubs, stop it."""
    require_local_server()
    record = json.loads((repository / protocol.REPOSITORY_RECORD).read_text(encoding="utf-8"))
    ensemble = record["models"].get("ensemble")
    if ensemble is None:
        raise KubernetesOptionsError(f"{record['name']} is served engine-only ({record['task']}): there is no "
                                     "image request to measure with; give --memory-request-mib N")
    batch, options = int(record["options"]["max_batch_size"]), record["options"]
    parallel = batch * int(options.get("instances", 1))
    width, height = measure_size(int(options.get("max_image_pixels") or PILLOW_MAX_IMAGE_PIXELS))
    with tempfile.TemporaryDirectory(prefix="beit-measure-log-") as folder:
        log = Path(folder) / "server.log"
        http, process = free_port(), None
        try:
            process = _start_beit_serve(repository, http=http, log=log, ready_timeout_s=ready_timeout_s)
            _send(f"127.0.0.1:{http}", ensemble, measure_image(width, height), count=rounds * parallel,
                  parallel=parallel)
            processes = {name: _peak_mib(pid) for name, pid in _server_processes(process.pid, http).items()}
            shm, version = _shm_mib(f"beit_serve_{process.pid}_{http}_"), _server_version(http)
        except Exception as error:
            text = log.read_text(encoding="utf-8", errors="replace")[-3000:] if log.exists() else ""
            raise MemoryMeasurementError(f"measuring the memory of {repository} on the local Triton failed: "
                                         f"{error}\nserver log (end):\n{text}") from error
        finally:
            if process is not None:
                _stop(process)
    return MemoryMeasurement(
        peak_mib=round(sum(processes.values()), 1), processes=processes, requests=rounds * parallel,
        batch_size=batch, shm_mib=round(shm, 1), image=f"{width}x{height} PNG of {MAX_IMAGE_BYTES // 2**20} MiB",
        measured=datetime.now(timezone.utc).isoformat(timespec="seconds"), cpu=cpu_model_name(), server=version)


def _start_beit_serve(repository: Path, *, http: int, log: Path, ready_timeout_s: float) -> subprocess.Popen[str]:
    """``beit-serve REPO`` on loopback and free ports (metrics on, as in the image), once it printed its ready
    line; its own messages and the server's log go to ``log``."""
    command = [sys.executable, "-m", "beit_runtime.serving.server", str(repository), "--http-port", str(http),
               "--grpc-port", str(free_port()), "--metrics-port", str(free_port()), "--ready-timeout",
               str(ready_timeout_s), "--log-file", str(log)]
    with open(log, "a", encoding="utf-8") as messages:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=messages, stdin=subprocess.DEVNULL,
                                   text=True)
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], ready_timeout_s + 10)
    line = process.stdout.readline() if ready else ""
    if "ready" not in line:
        _stop(process)
        raise MemoryMeasurementError(f"beit-serve did not get ready (exit {process.returncode}): {line!r}")
    return process


def _server_processes(serve_pid: int, http: int) -> dict[str, int]:
    """{name: pid} of beit-serve, its tritonserver and that server's python stubs."""
    found = {"beit-serve": serve_pid}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _parent(int(entry.name)) == serve_pid:
            found["tritonserver"] = int(entry.name)
    if "tritonserver" not in found:
        raise MemoryMeasurementError(f"beit-serve ({serve_pid}) has no tritonserver process")
    stubs = stub_processes(f"beit_serve_{serve_pid}_{http}_")
    found.update({f"stub {model}": pid for pid, model in sorted(stubs.items())})
    return found


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def _server_version(http: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{http}/v2", timeout=5) as reply:
        return f"Triton {json.loads(reply.read()).get('version', '?')}"


def _stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM (beit-serve drains and stops Triton), SIGKILL if it has not ended in a minute."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


def _peak_mib(pid: int) -> float:
    """``VmHWM`` (peak resident set) of a process, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise MemoryMeasurementError(f"/proc/{pid}/status has no VmHWM line")


def _shm_mib(prefix: str) -> float:
    """The size of the /dev/shm regions whose names start with ``prefix`` (a server's), MiB."""
    return sum(path.stat().st_size for path in Path("/dev/shm").glob(f"{prefix}*")) / 2**20


def measure_size(max_pixels: int) -> tuple[int, int]:
    """(width, height): the largest 4:3 landscape image of at most ``max_pixels`` pixels."""
    width = max(1, int((max_pixels * 4 / 3) ** 0.5))
    return width, max(1, min(max_pixels // width, width))


def measure_image(width: int, height: int) -> bytes:
    """A ``width`` x ``height`` PNG (smooth colour ramps: decodes like a photo) padded after its end to
    ``MAX_IMAGE_BYTES`` (the largest encoded image the server accepts; decoders stop at the PNG's end)."""
    x = np.linspace(0, 255, width).astype(np.uint8)[None, :]
    y = np.linspace(0, 255, height).astype(np.uint8)[:, None]
    image = np.stack(np.broadcast_arrays(x, y, (x // 2 + y // 2).astype(np.uint8)), axis=-1)
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(image))
    if not ok or len(encoded) > MAX_IMAGE_BYTES:
        raise MemoryMeasurementError(f"OpenCV could not encode a {width}x{height} measurement image within "
                                     f"{MAX_IMAGE_BYTES // 2**20} MiB")
    return bytes(encoded.tobytes()) + bytes(MAX_IMAGE_BYTES - len(encoded))


def _send(http: str, model: str, image: bytes, *, count: int, parallel: int) -> None:
    """``count`` inference requests of ``image`` each, ``parallel`` at a time (the request code of
    ``beit-serve --check``: Triton's binary tensor extension over urllib)."""
    url = f"http://{http}"
    config = check.Server(url, timeout_s=REQUEST_TIMEOUT_S).json(f"{check.model_path(model)}/config",
                                                                 what=f"{model}'s config")
    outputs = check.expected_outputs(config)

    def one(_: int) -> None:
        check.infer(check.Server(url, timeout_s=REQUEST_TIMEOUT_S), model, outputs, image)

    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(one, range(count)))
