"""Requests the fronts have handed to the core and not yet answered, and the shutdown gate.

On SIGTERM the server closes the gate first: from then on a request arriving at a front is
refused with 503 / UNAVAILABLE (``the server is shutting down``) while those already admitted
run to completion, and the server waits for the count to reach zero (up to --drain-timeout)
before it stops its fronts. Calls between models (BLS, ensembles) are not counted or refused:
they belong to a request that was admitted.
"""

from __future__ import annotations

import asyncio

from modelport.errors import Unavailable

SHUTTING_DOWN = "the server is shutting down: retry on another replica"


class InFlight:
    """A count of admitted requests and a gate that refuses new ones once closed."""

    def __init__(self) -> None:
        self.count = 0
        self.refusing = False
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        """Admit one request.

        Raises:
            Unavailable: the server is shutting down.
        """
        if self.refusing:
            raise Unavailable(SHUTTING_DOWN)
        self.count += 1
        if self.count == 1:
            self._idle.clear()

    def leave(self) -> None:
        """An admitted request was answered (or failed, or its client left)."""
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    def close(self) -> None:
        """Refuse every request from now on."""
        self.refusing = True

    async def wait_idle(self, timeout_s: float) -> bool:
        """Whether every admitted request was answered within ``timeout_s``."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except asyncio.TimeoutError:
            return False
        return True
