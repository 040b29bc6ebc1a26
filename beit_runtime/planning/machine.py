"""What a per-machine plan is keyed by: the CPU (model, family and the flags that change which kernels
run), the GPU when one is visible to ONNX Runtime, and the versions of the inference libraries.

Two machines with the same key run the same kernels, so a plan measured on one holds on the other; any
difference (another CPU generation, AVX2 only instead of AMX, a new onnxruntime) makes the key differ
and the plan is not applied. Flags outside ``KERNEL_FLAGS`` (mitigations, virtualisation details) are
left out so that a plan survives a reboot or a move between hosts of the same kind.
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
LIBRARIES = ("onnxruntime", "onnxruntime-gpu", "openvino", "numpy")


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
    """The facts a plan is keyed by (see the module docstring)."""
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
    """A short digest of ``machine_description()`` (or of ``description``)."""
    text = json.dumps(description or machine_description(), sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def describe(description: dict[str, Any]) -> str:
    """One line naming the CPU and its kernel flags, for reports and messages."""
    flags = ", ".join(description.get("kernel_flags") or []) or "no vector extensions listed"
    return f"{description.get('cpu', '?')} (family {description.get('cpu_family', '?')} model " \
           f"{description.get('cpu_model', '?')}; {flags})"
