"""Which queued requests of one instance's slots run together next, per strategy.

Direct: one row per slot, from slot 0 to the last slot with a request ready; a slot with
nothing ready (or a request whose shapes differ from the oldest one's) gets a not-ready row,
so every sequence keeps its slot's position. Oldest: the oldest ready request of each slot,
oldest first, up to max_batch_size, cut back to a preferred size when one fits; no empty rows.
Only the front request of a slot is ever taken, so a sequence's requests run in order.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from modelport.repository.sequence import SequenceBatching
from modelport.serve.sequences.batch import Row, row_state
from modelport.serve.sequences.slots import Slot
from modelport.serve.sequences.states import State, shapes


def ready(slots: Sequence[Slot]) -> list[Slot]:
    """The slots whose front request can run now."""
    return [s for s in slots if s.queue and not s.running]


def take(sb: SequenceBatching, slots: Sequence[Slot], max_batch_size: int,
         initial: State) -> list[Row]:
    """The rows of the next batch, their requests taken out of their slots' queues."""
    candidates = ready(slots)
    if not candidates:
        return []
    if sb.strategy == "direct":
        rows = _direct(slots, candidates, initial)
    else:
        rows = _oldest(sb, candidates, max(max_batch_size, 1), initial)
    for row in rows:
        if row.request is not None:
            row.slot.queue.popleft()
            row.slot.running = True
    return rows


def _key(slot: Slot, initial: State) -> Hashable:
    """Requests batch together only when their inputs and states have the same shapes."""
    row = Row(slot, slot.queue[0])
    return (slot.queue[0].checked.signature, shapes(row_state(row, initial)))


def _direct(slots: Sequence[Slot], candidates: list[Slot], initial: State) -> list[Row]:
    oldest = min(candidates, key=lambda s: s.queue[0].enqueued_ns)  # no slot starves
    key = _key(oldest, initial)
    matching = {id(s) for s in candidates if _key(s, initial) == key}
    last = max(s.index for s in candidates if id(s) in matching)
    return [Row(s, s.queue[0] if id(s) in matching else None) for s in slots[:last + 1]]


def _oldest(sb: SequenceBatching, candidates: list[Slot], limit: int,
            initial: State) -> list[Row]:
    by_age = sorted(candidates, key=lambda s: s.queue[0].enqueued_ns)
    key = _key(by_age[0], initial)
    chosen = [s for s in by_age if _key(s, initial) == key][:limit]
    fitting = [b for b in sb.preferred_batch_size if b <= len(chosen)]
    if fitting and len(chosen) not in sb.preferred_batch_size:
        chosen = chosen[:max(fitting)]
    return [Row(s, s.queue[0]) for s in chosen]


def wants_more(sb: SequenceBatching, slots: Sequence[Slot], max_batch_size: int) -> bool:
    """Whether a batch is below the size the strategy waits for (when it has a delay)."""
    count = len(ready(slots))
    if sb.strategy == "direct":
        return count / max(max_batch_size, 1) < sb.minimum_slot_utilization
    target = max(sb.preferred_batch_size, default=max(max_batch_size, 1))
    return count < target
