"""The python backend's stub processes of one server, found in ``/proc`` (Linux; stdlib only).

Triton 2.51 starts one ``triton_python_backend_stub <repo>/<model>/<version>/model.py <shm region> ...``
process per python model instance. Its arguments carry the ``shm-region-prefix-name`` that
``beit-serve`` gives each server, so a server's stubs are found by that prefix, also after the server
died and they were handed to another parent.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

STUB_BINARY = "triton_python_backend_stub"


def _arguments(pid: int) -> list[str]:
    with contextlib.suppress(OSError):
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        return [part.decode(errors="replace") for part in raw.split(b"\0") if part]
    return []


def stub_processes(shm_prefix: str) -> dict[int, str]:
    """{pid: model name} of the live python stubs whose arguments carry ``shm_prefix``."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        arguments = _arguments(int(entry.name))
        if len(arguments) < 2 or not arguments[0].endswith(STUB_BINARY):
            continue
        if any(shm_prefix in argument for argument in arguments[2:]):
            found[int(entry.name)] = Path(arguments[1]).parent.parent.name
    return found


def kill_stubs(shm_prefix: str) -> list[int]:
    """SIGKILL the stubs a server left behind (it died, or was killed); the pids signalled."""
    killed = []
    for pid in stub_processes(shm_prefix):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    return killed
