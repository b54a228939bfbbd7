"""Allocation tracing for leak hunts: tracemalloc snapshots and their differences.

Off until started (tracemalloc slows allocation while it runs). Each snapshot records the
process RSS and GPU memory beside Python's traced allocations, so a diff shows both.
"""

from __future__ import annotations

import time
import tracemalloc
from dataclasses import dataclass
from typing import Any

from modelport.errors import InvalidInput
from modelport.serve.gpu import gpu_memory
from modelport.serve.memory import rss_bytes

MAX_SNAPSHOTS = 64


@dataclass
class _Snapshot:
    id: int
    time: float
    rss: int
    gpu: list[dict[str, Any]]
    traced: tracemalloc.Snapshot
    traced_bytes: int

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "time": self.time, "rss_bytes": self.rss, "gpu": self.gpu,
                "traced_bytes": self.traced_bytes}


class MemoryDebugger:
    """Start tracing, take numbered snapshots, diff two of them."""

    def __init__(self) -> None:
        self.snapshots: dict[int, _Snapshot] = {}
        self._next = 1
        self._started_here = False

    def start(self, frames: int = 10) -> dict[str, Any]:
        """Begin tracing allocations, keeping ``frames`` frames per allocation site."""
        if not 1 <= frames <= 100:
            raise InvalidInput("frames must be between 1 and 100")
        if not tracemalloc.is_tracing():
            tracemalloc.start(frames)
            self._started_here = True
        self.snapshots.clear()
        return self.status()

    def stop(self) -> dict[str, Any]:
        """Stop tracing and drop the snapshots."""
        if self._started_here and tracemalloc.is_tracing():
            tracemalloc.stop()
        self._started_here = False
        self.snapshots.clear()
        return self.status()

    def status(self) -> dict[str, Any]:
        """Whether tracing runs, the snapshot ids, and memory right now."""
        current, peak = tracemalloc.get_traced_memory() if tracemalloc.is_tracing() else (0, 0)
        return {"tracing": tracemalloc.is_tracing(), "snapshots": sorted(self.snapshots),
                "rss_bytes": rss_bytes(), "traced_bytes": current, "traced_peak_bytes": peak,
                "gpu": _gpu()}

    def snapshot(self) -> dict[str, Any]:
        """Take a snapshot; the oldest is dropped beyond MAX_SNAPSHOTS."""
        if not tracemalloc.is_tracing():
            raise InvalidInput("allocation tracing is off: POST /v2/debug/memory/start first")
        traced = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)])
        snap = _Snapshot(self._next, time.time(), rss_bytes(), _gpu(), traced,
                         tracemalloc.get_traced_memory()[0])
        self.snapshots[snap.id] = snap
        self._next += 1
        while len(self.snapshots) > MAX_SNAPSHOTS:
            self.snapshots.pop(min(self.snapshots))
        return snap.summary()

    def diff(self, first: int, second: int, top: int = 20) -> dict[str, Any]:
        """The allocation sites that grew most from snapshot ``first`` to ``second``."""
        a, b = self._get(first), self._get(second)
        stats = b.traced.compare_to(a.traced, "traceback")
        sites = []
        for stat in sorted(stats, key=lambda s: s.size_diff, reverse=True)[:max(top, 1)]:
            frame = stat.traceback[-1] if stat.traceback else None
            sites.append({
                "file": frame.filename if frame else "?", "line": frame.lineno if frame else 0,
                "size_diff_bytes": stat.size_diff, "count_diff": stat.count_diff,
                "size_bytes": stat.size,
                "traceback": [f"{f.filename}:{f.lineno}" for f in stat.traceback],
            })
        return {"from": a.summary(), "to": b.summary(), "seconds": b.time - a.time,
                "rss_diff_bytes": b.rss - a.rss, "traced_diff_bytes": b.traced_bytes -
                a.traced_bytes, "sites": sites}

    def _get(self, snapshot_id: int) -> _Snapshot:
        try:
            return self.snapshots[snapshot_id]
        except KeyError:
            have = sorted(self.snapshots)
            raise InvalidInput(f"no snapshot {snapshot_id}; have {have}") from None


def _gpu() -> list[dict[str, Any]]:
    return [{"gpu": g.index, "used_bytes": g.used_bytes, "process_bytes": g.process_bytes}
            for g in gpu_memory()]
