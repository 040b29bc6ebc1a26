"""Resident memory of benchmark workers: the worker's own readings and the parent's psutil samples."""

from __future__ import annotations

import subprocess
import time

MIB = 2**20


def rss_mib() -> float:
    """This process's resident memory now, in MiB."""
    import psutil

    return round(psutil.Process().memory_info().rss / MIB, 1)


def peak_rss_mib() -> float | None:
    """This process's RSS high-water mark (Linux VmHWM; ru_maxrss would include the parent's, inherited
    across fork), None where /proc is not available (the parent's psutil samples still give a peak)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def sampled_peak_mib(process: subprocess.Popen, *, interval_s: float, until_exit: bool = True) -> float:
    """Poll the child's RSS every ``interval_s`` while it runs; the highest sample in MiB. With
    ``until_exit`` the child is waited for (it has exited when this returns)."""
    import psutil

    peak = 0
    try:
        watched = psutil.Process(process.pid)
        while process.poll() is None:
            try:
                peak = max(peak, watched.memory_info().rss)
            except psutil.Error:
                break
            time.sleep(interval_s)
    except psutil.Error:
        pass
    if until_exit:
        process.wait()
    return round(peak / MIB, 1)
