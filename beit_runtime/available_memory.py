"""Memory available to new allocations now: the smaller of the host's and the process's memory cgroup's headroom.

In a container (Docker, a Kubernetes pod) the cgroup's limit, not the host's free memory, is what gets the process
OOM-killed: a pod limited to 4 GiB on a 128 GiB node has about 4 GiB to spend. The sources, each ignored when its
files are missing, unreadable or malformed:

- the host: ``MemAvailable`` in ``/proc/meminfo`` (without it, total physical memory from ``os.sysconf``);
- cgroup v2: ``memory.max`` - ``memory.current`` in ``/sys/fs/cgroup/PATH``, PATH the process's own cgroup (the
  ``0::PATH`` line of ``/proc/self/cgroup``); ``max`` means no limit;
- cgroup v1: ``memory.limit_in_bytes`` - ``memory.usage_in_bytes`` in ``/sys/fs/cgroup/memory/PATH``, PATH the
  ``memory`` controller's line of ``/proc/self/cgroup``; a value of ``NO_LIMIT`` or more (the kernel writes about
  2^63) means no limit.

A cgroup's headroom is the smallest over PATH and each cgroup above it up to the mount (a limit set on a parent,
such as a Kubernetes pod's, binds its children; inside a container whose mount is its own cgroup, PATH may not exist
there and the mount itself is read). The reclaimable page cache the usage counts (``inactive_file`` in v2's
``memory.stat``, ``total_inactive_file`` in v1's) is added back, as ``MemAvailable`` and the kubelet's working set do:
a folder run that has read many image files is not short of memory for it.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

NO_LIMIT = 2**60  # cgroup v1 limits at or above this (1 EiB) are the kernel's "unlimited"


def available_memory_bytes(*, root: str | os.PathLike[str] = "/") -> int:
    """Bytes available to new allocations now: the smallest of the host's ``MemAvailable`` and the cgroup v2 and
    v1 headrooms (module docstring); ``root`` is where ``proc`` and ``sys`` are looked up (tests build a tree)."""
    base = Path(root)
    controllers = _own_cgroups(base / "proc/self/cgroup")
    sources: list[int | None] = [_host_available(base / "proc/meminfo")]
    if "" in controllers:
        sources.append(_cgroup_headroom(base / "sys/fs/cgroup", controllers[""], limit="memory.max",
                                        usage="memory.current", inactive="inactive_file"))
    if "memory" in controllers:
        sources.append(_cgroup_headroom(base / "sys/fs/cgroup/memory", controllers["memory"],
                                        limit="memory.limit_in_bytes", usage="memory.usage_in_bytes",
                                        inactive="total_inactive_file"))
    return min(source for source in sources if source is not None)


def _host_available(meminfo: Path) -> int:
    """``MemAvailable`` in bytes; total physical memory where that cannot be read (not Linux)."""
    for line in _lines(meminfo):
        fields = line.split()
        if fields[:1] == ["MemAvailable:"] and len(fields) > 1 and fields[1].isdigit():
            return int(fields[1]) * 1024
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def _own_cgroups(cgroup_file: Path) -> dict[str, str]:
    """Controller -> the process's cgroup path, from ``/proc/self/cgroup`` ("": the v2 unified hierarchy)."""
    paths: dict[str, str] = {}
    for line in _lines(cgroup_file):
        parts = line.strip().split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(","):
                paths.setdefault(controller, parts[2])
    return paths


def _cgroup_headroom(mount: Path, path: str, *, limit: str, usage: str, inactive: str) -> int | None:
    """The smallest limit - usage (+ reclaimable cache) of the cgroup at ``path`` and each above it under
    ``mount``; None when none of them has a readable limit."""
    headrooms = []
    for directory in _up_to_mount(mount, path):
        limit_bytes, usage_bytes = _read_int(directory / limit), _read_int(directory / usage)
        if limit_bytes is None or usage_bytes is None or limit_bytes >= NO_LIMIT:
            continue  # "max", unreadable, or the kernel's unlimited
        cache = _stat_value(directory / "memory.stat", inactive)
        headrooms.append(max(0, limit_bytes - usage_bytes + cache))
    return min(headrooms, default=None)


def _up_to_mount(mount: Path, path: str) -> list[Path]:
    """``mount``/``path`` and each folder above it up to ``mount`` (only ``mount`` for a path outside the
    namespace, which ``/proc/self/cgroup`` writes with "..")."""
    parts = PurePosixPath(path).parts[1:]
    if ".." in parts:
        return [mount]
    return [mount.joinpath(*parts[:depth]) for depth in range(len(parts), -1, -1)]


def _stat_value(stat_file: Path, key: str) -> int:
    """``key``'s value in a cgroup's ``memory.stat`` (0 when absent or unreadable)."""
    for line in _lines(stat_file):
        fields = line.split()
        if len(fields) == 2 and fields[0] == key and fields[1].isdigit():
            return int(fields[1])
    return 0


def _read_int(path: Path) -> int | None:
    """The integer a one-value cgroup file holds; None when unreadable or not an integer (v2's "max")."""
    lines = _lines(path)
    text = lines[0].strip() if lines else ""
    return int(text) if text.isdigit() else None


def _lines(path: Path) -> list[str]:
    """A small text file's lines; none when it cannot be read."""
    try:
        return path.read_text(encoding="ascii", errors="replace").splitlines()
    except (OSError, ValueError):
        return []
