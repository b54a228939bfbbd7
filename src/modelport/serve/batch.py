"""A batch: queued requests merged along the first dimension, run once, and split back.

When a merged batch fails, the scheduler runs its halves apart (recursively), so one request
with bad values fails alone and its neighbours get their answers.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from modelport.errors import BackendError

if TYPE_CHECKING:
    from modelport.repository.config import ModelConfig
    from modelport.runtime.base import ResponseSink
    from modelport.serve.tracing import RequestTrace
    from modelport.serve.validate import Checked


class Pending:
    """One queued request and the future its caller awaits."""

    __slots__ = ("checked", "enqueued_ns", "future", "sink", "size", "timer", "trace",
                 "wall_ns")

    def __init__(self, checked: Checked, future: asyncio.Future[list[np.ndarray]],
                 trace: RequestTrace | None, sink: ResponseSink | None = None) -> None:
        self.checked = checked
        self.size = checked.batch_size  # items along the batch dimension
        self.sink = sink  # a decoupled model's responses go there
        self.future = future
        self.enqueued_ns = time.perf_counter_ns()
        self.timer: asyncio.TimerHandle | None = None
        self.trace = trace
        self.wall_ns = time.time_ns() if trace is not None else 0


class Batch:
    """Requests that run together; ``batched``: the model has a batch dimension."""

    def __init__(self, members: list[Pending], config: ModelConfig, batched: bool) -> None:
        self.members = members
        self.config = config
        self.batched = batched
        self.size = sum(p.size for p in members)

    def __len__(self) -> int:
        return len(self.members)

    def outputs(self) -> list[str]:
        """Every output some member asked for, in the config's order."""
        if len(self.members) == 1:
            return list(self.members[0].checked.outputs)
        wanted = {n for p in self.members for n in p.checked.outputs}
        return [s.name for s in self.config.outputs if s.name in wanted]

    def feed(self) -> dict[str, Any]:
        """The members' inputs concatenated along the first dimension."""
        if len(self.members) == 1:
            return self.members[0].checked.feed
        names = self.members[0].checked.feed.keys()
        return {n: np.concatenate([p.checked.feed[n] for p in self.members]) for n in names}

    def halves(self) -> tuple[Batch, Batch]:
        """The first and second half of the members, as batches of their own."""
        middle = len(self.members) // 2
        return (Batch(self.members[:middle], self.config, self.batched),
                Batch(self.members[middle:], self.config, self.batched))

    def deliver(self, results: list[np.ndarray], names: list[str]) -> None:
        """Hand each member its slice of ``results`` (computed for ``names``).

        Raises:
            BackendError: an output lacks the batch dimension the merge needs.
        """
        if self.batched:
            _check_batch_dim(results, names, self.size)
        index = {n: i for i, n in enumerate(names)}
        offset = 0
        for p in self.members:
            if self.batched:
                outs = [results[index[n]][offset:offset + p.size] for n in p.checked.outputs]
            else:
                outs = [results[index[n]] for n in p.checked.outputs]
            offset += p.size
            if not p.future.done():
                p.future.set_result(outs)

    def fail(self, error: BaseException) -> None:
        """Answer every member that is still waiting with ``error``."""
        for p in self.members:
            if not p.future.done():
                p.future.set_exception(error)


def _check_batch_dim(results: list[np.ndarray], names: list[str], total: int) -> None:
    for name, arr in zip(names, results, strict=False):
        if arr.ndim == 0 or arr.shape[0] != total:
            raise BackendError(
                f"output '{name}' has shape {list(arr.shape)}; expected a first (batch) "
                f"dimension of {total}"
            )
