"""Splitting the onnxruntime-gpu wheel into parts that each fit one device call, and putting it back."""

from __future__ import annotations

import hashlib
import subprocess

import pytest

from benchmarks.gpu.prepare import slice_sizes, write_parts


def test_slices_make_every_call_carry_the_same():
    sizes = slice_sizes(1000, parts=5, first_extra=100)
    assert sum(sizes) == 1000 and len(sizes) == 5
    assert sizes[0] + 100 == sizes[1] == sizes[2] == sizes[3] and sizes[4] >= sizes[3]
    with pytest.raises(ValueError, match="at least 2"):
        slice_sizes(1000, parts=1, first_extra=0)
    with pytest.raises(ValueError, match="too few"):
        slice_sizes(100, parts=2, first_extra=500)


def test_parts_reassemble_to_the_checked_wheel(tmp_path):
    wheel = tmp_path / "onnxruntime_gpu-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    wheel.write_bytes(bytes(range(256)) * 1000)
    extra = tmp_path / "transformers-1.0-py3-none-any.whl"
    extra.write_bytes(b"x" * 30000)
    folders = write_parts(wheel, extra, tmp_path / "carry", parts=4)
    assert [f.name for f in folders] == ["gpu1", "gpu2", "gpu3", "gpu4"]
    joined = tmp_path / "joined" / wheel.name
    joined.parent.mkdir()
    joined.write_bytes(b"".join((folder / "ort.part").read_bytes() for folder in folders))
    assert hashlib.sha256(joined.read_bytes()).hexdigest() == hashlib.sha256(wheel.read_bytes()).hexdigest()
    sums = folders[0] / "SHA256SUMS"
    checked = subprocess.run(["sha256sum", "-c", str(sums)], cwd=joined.parent, capture_output=True, text=True,
                             check=False)
    assert checked.returncode == 0 and "OK" in checked.stdout
    assert (folders[0] / extra.name).read_bytes() == extra.read_bytes()
