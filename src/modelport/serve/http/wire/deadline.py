"""One timer per connection, moved lazily.

Every response sets a new deadline, and most deadlines never expire; scheduling a fresh
``call_later`` for each (and cancelling it at the next request) costs a heap push and pop per
request. Here setting a deadline is one assignment: the single timer, when it fires before the
current deadline, sleeps again until it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Deadline:
    """Calls ``expire`` once the deadline set last has passed, unless cleared first."""

    def __init__(self, loop: asyncio.AbstractEventLoop, expire: Callable[[], None]) -> None:
        self._loop = loop
        self._expire = expire
        self._when: float | None = None
        self._timer: asyncio.TimerHandle | None = None

    def set(self, delay_s: float) -> None:
        """Expire ``delay_s`` from now (replacing any earlier deadline)."""
        when = self._loop.time() + delay_s
        self._when = when
        timer = self._timer
        if timer is None or timer.when() > when:
            if timer is not None:
                timer.cancel()
            self._timer = self._loop.call_at(when, self._fire)

    def clear(self) -> None:
        """No deadline until the next ``set``."""
        self._when = None

    def cancel(self) -> None:
        """Clear and drop the timer (the connection is gone)."""
        self._when = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self._timer = None
        when = self._when
        if when is None:
            return
        if self._loop.time() < when:
            self._timer = self._loop.call_at(when, self._fire)
            return
        self._when = None
        self._expire()
