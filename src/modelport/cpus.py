"""How many CPUs this process may really use.

``os.cpu_count()`` answers for the machine. A process may be held to fewer: by its CPU
affinity (``taskset``, a cpuset) and, in a container, by a CFS quota (Kubernetes' CPU limit,
``podman run --cpus``), where the node's 64 cores show in ``/proc/cpuinfo`` and the affinity
mask but the kernel grants two cores' worth of time per period. Thread pools and the server's
front processes are sized from :func:`usable_cores`, which takes the smaller of the two.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

# cgroup v2 (one file: "<quota> <period>" or "max <period>") and v1 (two files, -1: no quota)
CGROUP_V2 = Path("/sys/fs/cgroup/cpu.max")
CGROUP_V1 = (Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
             Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us"))


def usable_cores() -> int:
    """CPUs this process may run on, held to its container's CPU quota where one is set."""
    cores = affinity_cores()
    quota = quota_cores()
    return min(cores, quota) if quota else cores


def affinity_cores() -> int:
    """CPUs in this process's affinity mask (the machine's count where the OS has no mask)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def quota_cores(v2: Path = CGROUP_V2, v1: tuple[Path, Path] = CGROUP_V1) -> int | None:
    """The CFS quota in whole cores, rounded up (1.5 cores: 2); None without a quota."""
    text = _read(v2)
    if text is not None:
        quota, _, period = text.partition(" ")
        return _whole(quota, period)
    quota_text, period_text = _read(v1[0]), _read(v1[1])
    if quota_text is None or period_text is None:
        return None
    return _whole(quota_text, period_text)


def _whole(quota: str, period: str) -> int | None:
    try:
        allowed, length = int(quota), int(period)
    except ValueError:  # "max": no quota
        return None
    if allowed <= 0 or length <= 0:
        return None
    return max(1, math.ceil(allowed / length))


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None
