"""Which sequence holds which batch slot, and which wait for one (Triton's sequence slots and
backlog).

Each instance has a fixed number of slots. A START takes a free slot (lowest index first,
spread over instances) or, when none is free, waits in the backlog; later requests of the
sequence follow it there. A slot is freed once its sequence's END request has run, or once the
sequence has been idle (nothing queued or running, nothing sent or answered) longer than
max_sequence_idle_microseconds; the oldest backlogged sequence then takes it. Pure
bookkeeping: no clocks, no event loop.
"""

from __future__ import annotations

import heapq
import logging
from collections import OrderedDict, deque

from modelport.errors import InvalidInput, QueueFull
from modelport.serve.sequences.params import CorrelationId
from modelport.serve.sequences.request import SequencePending
from modelport.serve.sequences.states import State

log = logging.getLogger("modelport.serve")
REMEMBERED_EXPIRIES = 4096  # ids whose expiry an error can still explain


class Slot:
    """One batch slot of one instance and the sequence holding it."""

    def __init__(self, instance: int, index: int) -> None:
        self.instance = instance
        self.index = index
        self.owner: CorrelationId | None = None
        self.queue: deque[SequencePending] = deque()
        self.state: State | None = None  # implicit state of the sequence in the slot
        self.last_ns = 0  # when its sequence last sent a request or had one answered
        self.running = False  # its front request is in a batch on the instance
        self.ending = False  # no more requests will come: free it once the queue drains

    @property
    def free(self) -> bool:
        """Whether the slot can be given to another sequence now."""
        return self.ending and not self.running and not self.queue


class Backlogged:
    """A sequence waiting for a slot, with its requests in order."""

    def __init__(self, corrid: CorrelationId) -> None:
        self.corrid = corrid
        self.requests: deque[SequencePending] = deque()


class SlotTable:
    """Routes each request to its sequence's slot or to the backlog."""

    def __init__(self, model: str, instances: int, per_instance: int,
                 backlog_limit: int = 0) -> None:
        self.model = model
        self.slots = [[Slot(i, s) for s in range(per_instance)] for i in range(instances)]
        self._free = [(s, i) for i in range(instances) for s in range(per_instance)]
        heapq.heapify(self._free)
        self.backlog_limit = backlog_limit  # 0: unbounded, as in Triton
        self.active: dict[CorrelationId, Slot] = {}
        self.waiting: dict[CorrelationId, Backlogged] = {}  # backlogged, END not seen yet
        self.backlog: deque[Backlogged] = deque()
        self.expired: OrderedDict[CorrelationId, int] = OrderedDict()  # id -> idle us

    @property
    def total(self) -> int:
        """How many sequences the model holds at once."""
        return sum(len(s) for s in self.slots)

    def route(self, request: SequencePending, now_ns: int) -> Slot | None:
        """Queue ``request`` in its sequence's slot (returned) or in the backlog (None).

        Raises:
            InvalidInput: a sequence that was never started (or ended, or expired) without START.
            QueueFull: no slot is free and the backlog holds ``backlog_limit`` sequences.
        """
        params = request.params
        slot = self.active.get(params.id)
        if slot is None and params.id in self.waiting:
            self._to_backlog(request)
            return None
        if slot is None and not params.start:
            raise InvalidInput(self._not_started(params.id))
        if slot is not None and params.start:
            log.warning("sequence %s for model '%s' has a conflict. The previous sequence did "
                        "not end before this sequence start. Previous sequence will be "
                        "terminated early.", params.id, self.model)
        if slot is None:
            slot = self._take_free(params.id)
            if slot is None:
                self._to_new_backlog(request)
                return None
        slot.queue.append(request)
        slot.last_ns = now_ns
        if params.end:
            self._stop(slot)
        return slot

    def _not_started(self, corrid: CorrelationId) -> str:
        text = (f"inference request for sequence {corrid} to model '{self.model}' must "
                "specify the START flag on the first request of the sequence")
        idle_us = self.expired.get(corrid)
        if idle_us is not None:
            text += (f"; sequence {corrid} was ended after {idle_us} us without a request "
                     "(max_sequence_idle_microseconds)")
        return text

    def _take_free(self, corrid: CorrelationId) -> Slot | None:
        if not self._free:
            return None
        index, instance = heapq.heappop(self._free)
        slot = self.slots[instance][index]
        self._assign(slot, corrid)
        return slot

    def _assign(self, slot: Slot, corrid: CorrelationId) -> None:
        slot.owner, slot.ending, slot.state = corrid, False, None
        self.active[corrid] = slot
        self.expired.pop(corrid, None)

    def _stop(self, slot: Slot) -> None:
        """No more requests go to ``slot`` for its sequence (END seen, or idle too long)."""
        if slot.owner is not None and self.active.get(slot.owner) is slot:
            del self.active[slot.owner]
        slot.ending = True

    def _to_new_backlog(self, request: SequencePending) -> None:
        if self.backlog_limit and len(self.backlog) >= self.backlog_limit:
            raise QueueFull(
                f"inference request for sequence {request.params.id} to model '{self.model}' "
                f"cannot start: all {self.total} sequence slots are taken and "
                f"{len(self.backlog)} sequences already wait for one (max_sequence_backlog); "
                "end sequences with sequence_end, or retry later")
        entry = Backlogged(request.params.id)
        self.backlog.append(entry)
        self.waiting[entry.corrid] = entry
        self._to_backlog(request)

    def _to_backlog(self, request: SequencePending) -> None:
        entry = self.waiting[request.params.id]
        entry.requests.append(request)
        if request.params.end:
            del self.waiting[entry.corrid]

    def settle(self, slot: Slot, now_ns: int) -> bool:
        """Free ``slot`` if its sequence is over and drained, handing it to the oldest
        backlogged sequence; returns whether the slot has requests to run."""
        if not slot.free:
            return bool(slot.queue) and not slot.running
        slot.owner, slot.state, slot.ending = None, None, False
        while self.backlog:
            entry = self.backlog.popleft()
            if entry.requests:
                self._adopt(slot, entry, now_ns)
                return True
            self.waiting.pop(entry.corrid, None)
        heapq.heappush(self._free, (slot.index, slot.instance))
        return False

    def _adopt(self, slot: Slot, entry: Backlogged, now_ns: int) -> None:
        self._assign(slot, entry.corrid)
        slot.queue.extend(entry.requests)
        slot.last_ns = now_ns
        if self.waiting.get(entry.corrid) is entry:
            del self.waiting[entry.corrid]
        else:  # its END is among the requests
            self._stop(slot)

    def expire(self, now_ns: int, idle_ns: int) -> list[Slot]:
        """End the sequences idle longer than ``idle_ns``; returns their slots."""
        stale = [s for s in self.active.values()
                 if not s.queue and not s.running and now_ns - s.last_ns > idle_ns]
        for slot in stale:
            log.info("sequence %s of model '%s' was idle longer than "
                     "max_sequence_idle_microseconds; ending it", slot.owner, self.model)
            assert slot.owner is not None
            self.expired[slot.owner] = idle_ns // 1000
            while len(self.expired) > REMEMBERED_EXPIRIES:
                self.expired.popitem(last=False)
            self._stop(slot)
        return stale

    def next_idle_check_ns(self, idle_ns: int) -> int | None:
        """When the next sequence can become idle too long (None: no sequence is idle now)."""
        quiet = [s.last_ns for s in self.active.values() if not s.queue and not s.running]
        return min(quiet) + idle_ns if quiet else None

    def remove(self, request: SequencePending) -> Slot | None:
        """Take a request whose client left out of its queue; returns the slot it left (None
        when it waited in the backlog or had already been taken into a batch)."""
        for entry in self.backlog:
            if request in entry.requests:
                entry.requests.remove(request)
                return None
        for row in self.slots:
            for slot in row:
                if request in slot.queue:
                    slot.queue.remove(request)
                    return slot
        return None

    def drop_backlogged(self, request: SequencePending) -> list[SequencePending]:
        """Remove the backlogged sequence ``request`` waits in; returns all its requests."""
        for entry in list(self.backlog):
            if request in entry.requests:
                self.backlog.remove(entry)
                if self.waiting.get(entry.corrid) is entry:
                    del self.waiting[entry.corrid]
                return list(entry.requests)
        return []

    def clear(self) -> list[SequencePending]:
        """Empty every queue and the backlog; returns the requests they held."""
        held = [p for row in self.slots for s in row for p in s.queue]
        held += [p for entry in self.backlog for p in entry.requests]
        for row in self.slots:
            for s in row:
                s.queue.clear()
        self.backlog.clear()
        self.waiting.clear()
        return held

    def pending(self) -> int:
        """Requests queued in slots or in the backlog."""
        return (sum(len(s.queue) for row in self.slots for s in row)
                + sum(len(e.requests) for e in self.backlog))
