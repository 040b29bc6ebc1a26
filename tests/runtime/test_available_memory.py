"""Memory available to new allocations: the smaller of the host's ``MemAvailable`` and the process's cgroup headroom
(v2 and v1), read from a fake /proc and /sys/fs/cgroup tree built under tmp_path; unreadable sources are ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

import beit_runtime.attention as attention
from beit_runtime.available_memory import available_memory_bytes

GIB = 2**30
MIB = 2**20
V1_UNLIMITED = 9223372036854771712  # what the kernel writes for an unlimited v1 cgroup
POD = "/kubepods/burstable/pod1/container1"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="ascii")


def _host(root: Path, *, available: int = 128 * GIB, cgroups: str = "0::/\n") -> Path:
    """A host with ``available`` bytes of MemAvailable, the process in ``cgroups`` (a /proc/self/cgroup)."""
    _write(root / "proc/meminfo", f"MemTotal:       {256 * GIB // 1024} kB\nMemFree:        1 kB\n"
                                  f"MemAvailable:   {available // 1024} kB\n")
    _write(root / "proc/self/cgroup", cgroups)
    return root


def _v2(root: Path, path: str, *, limit: str, current: int, inactive_file: int | None = None) -> None:
    folder = root / "sys/fs/cgroup" / path.lstrip("/")
    _write(folder / "memory.max", f"{limit}\n")
    _write(folder / "memory.current", f"{current}\n")
    if inactive_file is not None:
        _write(folder / "memory.stat", f"anon 1\nfile 2\ninactive_file {inactive_file}\nactive_file 3\n")


def _v1(root: Path, path: str, *, limit: int, usage: int) -> None:
    folder = root / "sys/fs/cgroup/memory" / path.lstrip("/")
    _write(folder / "memory.limit_in_bytes", f"{limit}\n")
    _write(folder / "memory.usage_in_bytes", f"{usage}\n")


def test_host_alone_without_cgroup_files(tmp_path: Path) -> None:
    assert available_memory_bytes(root=_host(tmp_path, available=96 * GIB)) == 96 * GIB


def test_v2_limit_below_the_host_wins(tmp_path: Path) -> None:
    root = _host(tmp_path, cgroups=f"0::{POD}\n")
    _v2(root, POD, limit=str(4 * GIB), current=1 * GIB)
    assert available_memory_bytes(root=root) == 3 * GIB


def test_v2_max_means_no_limit(tmp_path: Path) -> None:
    root = _host(tmp_path, available=100 * GIB, cgroups=f"0::{POD}\n")
    _v2(root, POD, limit="max", current=5 * GIB)
    assert available_memory_bytes(root=root) == 100 * GIB


def test_v2_limit_on_a_parent_binds_the_process(tmp_path: Path) -> None:
    root = _host(tmp_path, cgroups=f"0::{POD}\n")
    _v2(root, POD, limit="max", current=1 * GIB)
    _v2(root, "/kubepods/burstable/pod1", limit=str(2 * GIB), current=1536 * MIB)
    assert available_memory_bytes(root=root) == 512 * MIB


def test_v2_mount_is_read_when_the_own_path_is_not_under_it(tmp_path: Path) -> None:
    """A container whose /sys/fs/cgroup is its own cgroup, while /proc/self/cgroup names the host's path."""
    root = _host(tmp_path, cgroups="0::/system.slice/docker-abc.scope\n")
    _v2(root, "/", limit=str(4 * GIB), current=3 * GIB)
    assert available_memory_bytes(root=root) == 1 * GIB


def test_v2_reclaimable_page_cache_counts_as_available(tmp_path: Path) -> None:
    root = _host(tmp_path, cgroups=f"0::{POD}\n")
    _v2(root, POD, limit=str(4 * GIB), current=4 * GIB - 10 * MIB, inactive_file=2 * GIB)
    assert available_memory_bytes(root=root) == 2 * GIB + 10 * MIB


def test_v2_usage_over_the_limit_leaves_nothing(tmp_path: Path) -> None:
    root = _host(tmp_path, cgroups=f"0::{POD}\n")
    _v2(root, POD, limit=str(1 * GIB), current=1 * GIB + 4096)
    assert available_memory_bytes(root=root) == 0


def test_v1_limit_below_the_host_wins(tmp_path: Path) -> None:
    root = _host(tmp_path, cgroups=f"12:pids:/x\n4:memory:{POD}\n3:cpu,cpuacct:/y\n0::/\n")
    _v1(root, POD, limit=4 * GIB, usage=1 * GIB)
    assert available_memory_bytes(root=root) == 3 * GIB


def test_v1_huge_value_means_no_limit(tmp_path: Path) -> None:
    root = _host(tmp_path, available=100 * GIB, cgroups=f"4:memory:{POD}\n")
    _v1(root, POD, limit=V1_UNLIMITED, usage=5 * GIB)
    assert available_memory_bytes(root=root) == 100 * GIB


def test_the_smallest_source_is_taken(tmp_path: Path) -> None:
    """Host, v2 and v1 all readable: whichever has the least headroom decides, whichever it is."""
    cgroups = f"4:memory:{POD}\n0::{POD}\n"
    for host, v2_left, v1_left in [(1, 8, 9), (9, 1, 8), (8, 9, 1)]:
        root = _host(tmp_path / f"{host}{v2_left}{v1_left}", available=host * GIB, cgroups=cgroups)
        _v2(root, POD, limit=str(16 * GIB), current=(16 - v2_left) * GIB)
        _v1(root, POD, limit=16 * GIB, usage=(16 - v1_left) * GIB)
        assert available_memory_bytes(root=root) == 1 * GIB


@pytest.mark.parametrize("broken", ["memory.max", "memory.current"])
def test_missing_cgroup_file_ignores_that_source(tmp_path: Path, broken: str) -> None:
    root = _host(tmp_path, available=50 * GIB, cgroups=f"4:memory:{POD}\n0::{POD}\n")
    _v2(root, POD, limit=str(4 * GIB), current=1 * GIB)
    _v1(root, POD, limit=8 * GIB, usage=1 * GIB)
    (root / "sys/fs/cgroup" / POD.lstrip("/") / broken).unlink()
    assert available_memory_bytes(root=root) == 7 * GIB  # v1 still read, v2 ignored


@pytest.mark.parametrize("garbage", ["", "lots\n", "-5\n", "\xff\xfe\n"])
def test_malformed_cgroup_file_ignores_that_source(tmp_path: Path, garbage: str) -> None:
    root = _host(tmp_path, available=50 * GIB, cgroups=f"4:memory:{POD}\n")
    _v1(root, POD, limit=4 * GIB, usage=1 * GIB)
    (root / "sys/fs/cgroup/memory" / POD.lstrip("/") / "memory.limit_in_bytes").write_bytes(
        garbage.encode("latin-1"))
    assert available_memory_bytes(root=root) == 50 * GIB


def test_unreadable_cgroup_folder_ignores_that_source(tmp_path: Path) -> None:
    """A path where a folder is expected (reading under it fails with NotADirectoryError) is not a crash."""
    root = _host(tmp_path, available=50 * GIB, cgroups=f"0::{POD}\n")
    _write(root / "sys/fs/cgroup/kubepods", "not a folder")
    assert available_memory_bytes(root=root) == 50 * GIB


def test_missing_or_garbled_proc_self_cgroup_leaves_the_host(tmp_path: Path) -> None:
    root = _host(tmp_path, available=50 * GIB, cgroups="garbage without colons\n")
    _v2(root, "/", limit=str(1 * GIB), current=0)
    assert available_memory_bytes(root=root) == 50 * GIB
    (root / "proc/self/cgroup").unlink()
    assert available_memory_bytes(root=root) == 50 * GIB


def test_missing_meminfo_still_takes_the_cgroup_limit(tmp_path: Path) -> None:
    """Without /proc/meminfo the host is its physical memory (this machine's); a small cgroup limit still wins."""
    root = _host(tmp_path, cgroups=f"0::{POD}\n")
    (root / "proc/meminfo").unlink()
    _v2(root, POD, limit=str(64 * MIB), current=0)
    assert available_memory_bytes(root=root) == 64 * MIB


def test_empty_root_is_the_physical_memory(tmp_path: Path) -> None:
    assert available_memory_bytes(root=tmp_path) > 0


def test_this_machine_has_positive_memory_at_most_the_hosts() -> None:
    meminfo = Path("/proc/meminfo")
    if not meminfo.exists():
        pytest.skip("no /proc/meminfo here (not Linux)")
    host = next(int(line.split()[1]) * 1024 for line in meminfo.read_text().splitlines()
                if line.startswith("MemAvailable:"))
    available = available_memory_bytes()
    assert 0 < available <= host + 256 * MIB  # MemAvailable moves between the two reads


def test_the_guard_uses_it() -> None:
    """``attention.check_fits`` (and through ``attention.available_memory_bytes``, ``attention_memory``) compare
    against this value."""
    assert attention.available_memory_bytes is available_memory_bytes
