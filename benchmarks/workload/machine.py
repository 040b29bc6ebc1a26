"""Name the machine a benchmark ran on: CPU, cores, load, GPU and library versions (CPU model and kernel flags
as ``beit_runtime.planning.machine`` reads them for per-machine plans)."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess

from beit_runtime.planning.machine import library_versions as plan_library_versions
from beit_runtime.planning.machine import machine_description

LIBRARIES = (
    "beit-deploy", "numpy", "torch", "transformers", "onnx", "onnxruntime", "onnxruntime-gpu",
    "opencv-python-headless", "opencv-python", "pillow", "tensorrt", "psutil", "matplotlib",
)


def cpu_model() -> str:
    """The CPU's model name, as the per-machine plans read it."""
    return str(machine_description()["cpu"])


def cpu_flags() -> list[str]:
    """The CPU flags that decide which kernels run (AVX2, AVX-512, VNNI, bf16, AMX), as plans key them."""
    return list(machine_description()["kernel_flags"])


def library_versions() -> dict[str, str]:
    return {"python": platform.python_version(), **plan_library_versions(LIBRARIES)}


def gpu_name() -> str | None:
    """The first GPU's name from nvidia-smi (no torch import), or None without one."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    names = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    return names[0] if done.returncode == 0 and names else None


def describe_machine(*, threads: int) -> dict:
    import psutil

    return {
        "cpu": cpu_model(),
        "cpu_flags": cpu_flags(),
        "physical_cores": psutil.cpu_count(logical=False),
        "logical_cores": psutil.cpu_count(logical=True),
        "threads_used": threads,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "os": f"{platform.system()} {platform.release()}",
        "gpu": gpu_name(),
        "versions": library_versions(),
    }
