"""Prepare (here) what the GPU machine lacks, in parts that each fit one device call's 64 MiB.

The GPU machine has PyTorch for CUDA 13 but not onnxruntime-gpu (a 255 MB wheel; 1.31.1 is a CUDA 13
build) nor the transformers release the exporter is pinned to. This downloads both wheels and writes
``.devcarry/gpu1`` ... ``gpuN`` (``.devcarry`` is git-ignored): ``gpu1`` holds the transformers wheel,
the SHA-256 of the onnxruntime-gpu wheel and the first, smaller slice of it; the others hold equal
slices, so every call carries about the same. Each call names one folder in ``carry`` and runs
``bash benchmarks/gpu/device.sh part K``; the last runs ``device.sh finish``.

Usage: ``python -m benchmarks.gpu.prepare [--parts 5] [--repo-mib 6]``.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

ORT_GPU = "onnxruntime-gpu==1.31.1"
TRANSFORMERS = "transformers==5.23.0"
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
CALL_LIMIT_BYTES = 64 * 1024 * 1024


def download(requirement: str, dest: Path) -> Path:
    """The wheel for CPython 3.12 on x86-64 Linux (the GPU machine's python), downloaded once."""
    name = requirement.split("==")[0].replace("-", "_")
    found = sorted(dest.glob(f"{name}-*.whl"))
    if found:
        return found[0]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version",
               "3.12", "--implementation", "cp", "-d", str(dest), requirement]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    subprocess.run(command, check=True)
    return sorted(dest.glob(f"{name}-*.whl"))[0]


def slice_sizes(total: int, *, parts: int, first_extra: int) -> list[int]:
    """Byte counts of the slices so that slice 1 plus ``first_extra`` bytes equals every other slice."""
    if parts < 2:
        raise ValueError("parts must be at least 2 (the wheel does not fit one call)")
    equal = (total + first_extra) // parts
    first = equal - first_extra
    if first <= 0:
        raise ValueError(f"{parts} parts are too few for an extra {first_extra} bytes in the first")
    sizes = [first] + [equal] * (parts - 1)
    sizes[-1] += total - sum(sizes)
    return sizes


def write_parts(wheel: Path, extra: Path, out: Path, *, parts: int) -> list[Path]:
    """``out/gpu1..gpuN``: the wheel's slices (``ort.part``), ``extra`` and SHA256SUMS in gpu1."""
    data = wheel.read_bytes()
    folders = []
    offset = 0
    for index, size in enumerate(slice_sizes(len(data), parts=parts, first_extra=extra.stat().st_size), start=1):
        folder = out / f"gpu{index}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        (folder / "ort.part").write_bytes(data[offset:offset + size])
        offset += size
        folders.append(folder)
    shutil.copy2(extra, folders[0] / extra.name)
    digest = hashlib.sha256(data).hexdigest()
    (folders[0] / "SHA256SUMS").write_text(f"{digest}  {wheel.name}\n")
    return folders


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(".devcarry"))
    parser.add_argument("--repo-mib", type=float, default=6.0, help="what the working tree adds to every call")
    args = parser.parse_args(argv)
    wheels = args.out / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    wheel, extra = download(ORT_GPU, wheels), download(TRANSFORMERS, wheels)
    folders = write_parts(wheel, extra, args.out, parts=args.parts)
    for index, folder in enumerate(folders, start=1):
        size = sum(path.stat().st_size for path in folder.iterdir()) + int(args.repo_mib * 1024 * 1024)
        verdict = "ok" if size <= CALL_LIMIT_BYTES else "TOO LARGE: use more --parts"
        step = "finish" if index == len(folders) else f"part {index}"
        print(f"call {index}: carry ['{folder}'], command 'bash benchmarks/gpu/device.sh {step}' "
              f"({size / 2**20:.1f} MiB with the tree: {verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
