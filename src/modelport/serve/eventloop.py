"""Which asyncio event loop runs the server: uvloop where it is installed, else asyncio's own.

The server's event loop thread does the per-request work of both fronts (reading sockets,
parsing, scheduling, answering), so its speed bounds a small model's throughput. uvloop
implements the loop, its transports and its handles in C on libuv: on the demo mlp at 64
clients, 0.88-1.25x asyncio's throughput, median 1.05 (benchmarks/README.md). It is a
base dependency on Linux and macOS; ``--loop asyncio`` keeps the standard loop (for debugging,
or where a library needs it).
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Coroutine
from typing import Any, Literal

from modelport.errors import ConfigError

LoopChoice = Literal["auto", "asyncio", "uvloop"]
LOOP_CHOICES = ("auto", "asyncio", "uvloop")


def resolve(choice: str) -> Literal["asyncio", "uvloop"]:
    """The loop ``choice`` means on this machine.

    Raises:
        ConfigError: an unknown choice, or uvloop asked for where it is not installed.
    """
    if choice not in LOOP_CHOICES:
        raise ConfigError(f"--loop must be one of {', '.join(LOOP_CHOICES)}, not {choice!r}")
    has_uvloop = importlib.util.find_spec("uvloop") is not None
    if choice == "uvloop" and not has_uvloop:
        raise ConfigError("--loop uvloop: uvloop is not installed here (pip install uvloop; "
                          "it has no Windows build), or use --loop asyncio")
    if choice == "asyncio" or not has_uvloop:
        return "asyncio"
    return "uvloop"


def run(main: Coroutine[Any, Any, None], loop: Literal["asyncio", "uvloop"]) -> None:
    """Run ``main`` to completion on a new loop of the resolved kind, as ``asyncio.run``."""
    if loop == "asyncio":
        asyncio.run(main)
        return
    import uvloop

    uvloop.run(main)


def name_of(loop: asyncio.AbstractEventLoop) -> str:
    """"uvloop" or "asyncio": which implementation ``loop`` is."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
