"""The garbage collector's pace in a server process.

Every request allocates a few hundred short-lived container objects (dicts, lists, frames,
futures), so with Python's default thresholds (700, 10, 10) the collector's youngest
generation ran every few requests and took ~9% of the event loop thread's samples (py-spy
--native, mlp at 64 clients). Reference counting frees nearly all of those objects anyway;
the collector is only for cycles. Collecting the youngest generation every 20,000
allocations instead (and the older ones every 20) measured 1.21 and 1.23 times the
requests per second (two A/B runs of five alternating rounds, benchmarks/README.md); the
cyclic garbage it leaves for longer is bounded by that count.
"""

from __future__ import annotations

import gc

THRESHOLDS = (20_000, 20, 20)


def tune() -> None:
    """Set this process's collector thresholds for serving (call once, at start-up)."""
    gc.set_threshold(*THRESHOLDS)
