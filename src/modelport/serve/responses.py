"""The responses of one request to a decoupled model, as they come.

The runtime sends them from its own threads (``send`` is a ``ResponseSink``); the core reads
them on the event loop, in order, until the final one. An error ends the request: the model's
own error response, or the failure of the batch that ran it (``end_on_error``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import numpy as np

Item = tuple[Mapping[str, np.ndarray] | Exception, bool]


class ResponseStream:
    """A thread-safe sink on one side, an async iterator of ``(outputs, final)`` on the other."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[Item] = asyncio.Queue()

    def send(self, outputs: Mapping[str, np.ndarray] | Exception, final: bool) -> None:
        """Queue one response (from any thread)."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening
            self._loop.call_soon_threadsafe(self._queue.put_nowait, (outputs, final))

    def end_on_error(self, task: asyncio.Future[Any]) -> None:
        """End the stream with the error of the task that ran the request, if it failed."""
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            self._queue.put_nowait((error if isinstance(error, Exception)
                                    else RuntimeError(str(error)), True))

    async def __aiter__(self) -> AsyncIterator[tuple[Mapping[str, np.ndarray], bool]]:
        """Each response's outputs and whether it is the last; raises the first error."""
        while True:
            item, final = await self._queue.get()
            if isinstance(item, Exception):
                raise item
            yield item, final
            if final:
                return
