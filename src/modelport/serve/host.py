"""The machine the server runs on: CPU utilization from /proc/stat, RAM from /proc/meminfo.

Read only when /metrics is scraped, never on the request path. Utilization is a ratio over a
window, so it keeps the previous reading of /proc/stat and reports the busy share of the CPU
time spent since then: with Prometheus scraping every 15 s, each sample covers those 15 s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# Scrapes closer together than this reuse the last ratio: a few clock ticks make no ratio.
MIN_WINDOW_S = 1.0


@dataclass(frozen=True)
class CpuTimes:
    """Aggregate CPU time of all cores, in clock ticks, split into busy and idle."""

    busy: int
    idle: int

    @classmethod
    def parse(cls, line: str) -> CpuTimes:
        """From the ``cpu`` line of /proc/stat (user nice system idle iowait irq softirq steal).

        Raises:
            ValueError: the line is not the aggregate ``cpu`` line.
        """
        fields = line.split()
        if not fields or fields[0] != "cpu" or len(fields) < 5:
            raise ValueError(f"not the aggregate cpu line of /proc/stat: {line!r}")
        ticks = [int(v) for v in fields[1:9]] + [0] * max(0, 9 - len(fields))
        user, nice, system, idle, iowait, irq, softirq, steal = ticks[:8]
        # guest time is already part of user time, so it is not added again.
        return cls(busy=user + nice + system + irq + softirq + steal, idle=idle + iowait)


@dataclass(frozen=True)
class HostMemory:
    """System RAM: total, and used as total minus what the kernel says is available."""

    total_bytes: int
    used_bytes: int


def read_cpu_times(path: str = "/proc/stat") -> CpuTimes | None:
    """The aggregate CPU times now; None where /proc/stat is absent or unreadable."""
    try:
        with open(path, encoding="ascii") as f:
            return CpuTimes.parse(f.readline())
    except (OSError, ValueError):
        return None


def read_memory(path: str = "/proc/meminfo") -> HostMemory | None:
    """System RAM now; None where /proc/meminfo is absent or lacks MemTotal/MemAvailable."""
    values: dict[str, int] = {}
    try:
        with open(path, encoding="ascii") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("MemTotal", "MemAvailable"):
                    values[key] = int(rest.split()[0]) * 1024  # the file says kB, means KiB
    except (OSError, ValueError, IndexError):
        return None
    if len(values) != 2:
        return None
    total = values["MemTotal"]
    return HostMemory(total, max(0, total - min(values["MemAvailable"], total)))


class CpuUtilization:
    """Busy share of all cores' time between successive reads, from 0.0 to 1.0."""

    def __init__(self, read: Callable[[], CpuTimes | None] = read_cpu_times,
                 clock: Callable[[], float] = time.monotonic,
                 min_window_s: float = MIN_WINDOW_S) -> None:
        self._read = read
        self._clock = clock
        self._min_window_s = min_window_s
        self._lock = threading.Lock()
        self._base = read()
        self._base_time = clock()
        self._last: float | None = None

    def ratio(self) -> float | None:
        """The ratio since the previous window closed; None where /proc/stat is unreadable."""
        with self._lock:
            if self._last is not None and self._clock() - self._base_time < self._min_window_s:
                return self._last
            now, at = self._read(), self._clock()
            if now is None:
                return self._last
            if self._base is None:
                self._base, self._base_time = now, at
                return self._last
            busy = max(0, now.busy - self._base.busy)  # iowait can step backwards
            idle = max(0, now.idle - self._base.idle)
            if busy + idle == 0:
                return self._last if self._last is not None else 0.0
            self._base, self._base_time = now, at
            self._last = busy / (busy + idle)
            return self._last
