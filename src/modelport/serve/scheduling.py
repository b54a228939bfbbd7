"""The seam between the core and a model version's scheduler: the dynamic batcher
(scheduler.py) and the sequence batcher (sequences/scheduler.py) both offer it."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from modelport.runtime.base import ResponseSink
from modelport.serve.sequences.params import SequenceParams
from modelport.serve.tracing import RequestTrace
from modelport.serve.validate import Checked


class RequestScheduler(Protocol):
    """Queues a model version's checked requests and runs them on its instances."""

    @property
    def pending(self) -> int:
        """Requests queued or executing."""
        ...

    async def submit(self, checked: Checked, timeout_us: int = 0,
                     trace: RequestTrace | None = None,
                     sequence: SequenceParams | None = None,
                     sink: ResponseSink | None = None) -> list[np.ndarray]:
        """Queue a request and wait for its outputs (in ``checked.outputs`` order); a decoupled
        model answers through ``sink`` instead (schedulers of other models ignore it)."""
        ...

    async def close(self, drain_timeout_s: float = 30.0) -> None:
        """Finish queued and running work (up to the timeout), then free the instances."""
        ...
