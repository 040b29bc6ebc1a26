"""What a per-machine plan is keyed by: the CPU (model, family and the flags that change which kernels
run); and what it records beside the key: the versions of the inference libraries.

Two machines with the same key run the same kernels for the same library version, so a plan measured on one
holds on the other; another CPU generation (AVX2 only instead of AMX) makes the key differ and the plan is not
applied. Flags outside ``KERNEL_FLAGS`` (mitigations, virtualisation details) are left out so that a plan
survives a reboot or a move between hosts of the same kind. Library versions are not part of the key: a plan is
applied in another environment of the same machine (the python environment of ``beit-serve --setup``'s Triton,
which has its own numpy and no OpenVINO) as long as the backend of the variant it runs has the version the plan
measured (``beit_runtime.planning.apply``).
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
from collections.abc import Iterable
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

# the CPU features that decide which GEMM / int8 / bf16 kernels ONNX Runtime and OpenVINO pick
KERNEL_FLAGS = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni",
                "avx512_bf16", "avx512_fp16", "amx_tile", "amx_int8", "amx_bf16", "asimd", "sve", "i8mm", "bf16")
# recorded in plans beside the key: every graph backend's distributions (engines.backends) are among them
LIBRARIES = ("onnxruntime", "onnxruntime-gpu", "openvino", "numpy")
HARDWARE_FIELDS = ("cpu", "cpu_family", "cpu_model", "kernel_flags", "architecture")  # what machine_key digests


@lru_cache(maxsize=1)
def _cpuinfo() -> dict[str, str]:
    path = Path("/proc/cpuinfo")
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:  # not Linux
        return {"model name": platform.processor() or platform.machine(), "flags": ""}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key and key not in fields:
            fields[key] = value.strip()
        if not line.strip() and fields:
            break  # the first processor's block is enough
    return fields


def cpu_fields() -> dict[str, str]:
    """The first processor's fields of ``/proc/cpuinfo`` ("model name", "cpu family", "flags"...; read once),
    the one reading of that file; elsewhere only a "model name" (``platform.processor()``) and empty "flags"."""
    return dict(_cpuinfo())


def cpu_model_name() -> str:
    """The CPU's model name ("AMD EPYC 9R14 96-Core Processor"); the architecture where none is known."""
    return _cpuinfo().get("model name", platform.machine())


def library_versions(names: Iterable[str] = LIBRARIES) -> dict[str, str]:
    """Installed versions of the distributions ``names``, keyed by the name as given (absent ones left out:
    a missing key says the package was not installed). The one reading of library versions for plans,
    artifact manifests and benchmark records."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


@lru_cache(maxsize=1)
def machine_description() -> dict[str, Any]:
    """The facts a plan is keyed by and the library versions it records (see the module docstring)."""
    info = _cpuinfo()
    flags = set(re.split(r"\s+", info.get("flags", info.get("Features", ""))))
    return {
        "cpu": cpu_model_name(),
        "cpu_family": info.get("cpu family", ""),
        "cpu_model": info.get("model", ""),
        "kernel_flags": [flag for flag in KERNEL_FLAGS if flag in flags],
        "architecture": platform.machine(),
        "libraries": library_versions(),
    }


def machine_key(description: dict[str, Any] | None = None) -> str:
    """A short digest of the hardware fields of ``machine_description()`` (or of ``description``): the same in
    every python environment of one machine."""
    described = description or machine_description()
    text = json.dumps({name: described.get(name) for name in HARDWARE_FIELDS}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def describe(description: dict[str, Any]) -> str:
    """One line naming the CPU and its kernel flags, for reports and messages."""
    flags = ", ".join(description.get("kernel_flags") or []) or "no vector extensions listed"
    return f"{description.get('cpu', '?')} (family {description.get('cpu_family', '?')} model " \
           f"{description.get('cpu_model', '?')}; {flags})"
