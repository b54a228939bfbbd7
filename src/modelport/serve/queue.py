"""A model version's request queue: arrival order, its own counts, and batch-taking.

The queue is the only thing that changes its counts (requests and batch items queued), so a
request that leaves it for any reason (taken into a batch, timed out, cancelled by its client)
leaves the counts right.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from modelport.serve.batch import Pending


class RequestQueue:
    """Requests waiting for an instance, in arrival order."""

    def __init__(self, max_batch: int, preferred: tuple[int, ...]) -> None:
        self.max_batch = max_batch  # 0: one request per batch (no batching)
        self.preferred = preferred
        self._items: deque[Pending] = deque()
        self.items = 0  # batch items queued (a request of batch 4 counts 4)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Pending]:
        return iter(self._items)

    def oldest_ns(self) -> int:
        """When the oldest queued request arrived (perf_counter_ns)."""
        return self._items[0].enqueued_ns

    def push(self, pending: Pending) -> None:
        """Queue a request at the back."""
        self._items.append(pending)
        self.items += pending.size

    def remove(self, pending: Pending) -> bool:
        """Take ``pending`` out if it is still queued; returns whether it was."""
        try:
            self._items.remove(pending)
        except ValueError:
            return False
        self.items -= pending.size
        return True

    def clear(self) -> list[Pending]:
        """Empty the queue; returns what it held."""
        held = list(self._items)
        self._items.clear()
        self.items = 0
        return held

    def take(self) -> list[Pending]:
        """The next batch: requests from the front whose non-batch shapes match the first's,
        up to max_batch items, cut back to a preferred size when one fits. Requests whose
        client already left are dropped on the way; the batch's queue timers are cancelled."""
        batch: list[Pending] = []
        total = 0
        while self._items:
            head = self._items[0]
            if head.future.done():  # cancelled by its client
                self._pop()
                continue
            if batch and (not self.max_batch
                          or head.checked.signature != batch[0].checked.signature
                          or total + head.size > self.max_batch):
                break
            batch.append(self._pop())
            total += head.size
            if not self.max_batch:
                break
        if self.preferred and len(batch) > 1 and total not in self.preferred:
            batch = self._cut_to_preferred(batch)
        for p in batch:
            if p.timer is not None:
                p.timer.cancel()
        return batch

    def _pop(self) -> Pending:
        p = self._items.popleft()
        self.items -= p.size
        return p

    def _cut_to_preferred(self, batch: list[Pending]) -> list[Pending]:
        total, keep = 0, 0
        for i, p in enumerate(batch):
            total += p.size
            if total in self.preferred:
                keep = i + 1
        if not keep:
            return batch
        for p in reversed(batch[keep:]):
            self._items.appendleft(p)
            self.items += p.size
        return batch[:keep]
