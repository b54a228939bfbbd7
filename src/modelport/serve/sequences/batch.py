"""A sequence batch: one row per slot taken, fed with its controls and implicit state, run
once, and answered row by row.

A row holds a request, or nothing (a Direct slot with no request ready: it repeats the first
request's inputs with every control false, and its outputs are dropped). Each request's state
output becomes its slot's state when the batch succeeds; a failed batch leaves states as they
were, so its halves can be run again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from modelport.errors import BackendError
from modelport.repository.config import ModelConfig
from modelport.repository.sequence import SequenceBatching
from modelport.serve.sequences.controls import NOT_READY, RowSignals, control_feed
from modelport.serve.sequences.request import SequencePending
from modelport.serve.sequences.slots import Slot
from modelport.serve.sequences.states import State, next_state, state_feed


@dataclass
class Row:
    """One batch row: the slot it belongs to and its request (None: a not-ready row)."""

    slot: Slot
    request: SequencePending | None = None


def row_state(row: Row, initial: State) -> State:
    """The state a row feeds the model: fresh on START, else what its sequence left."""
    request, slot = row.request, row.slot
    if request is None or request.params.start or slot.state is None:
        return initial
    return slot.state


class SequenceBatch:
    """Rows that run together on one instance."""

    def __init__(self, rows: list[Row], config: ModelConfig, initial: State) -> None:
        self.rows = rows
        self.config = config
        self.initial = initial
        assert config.sequence_batching is not None
        self.sb: SequenceBatching = config.sequence_batching
        self.members = [r.request for r in rows if r.request is not None]

    def outputs(self) -> list[str]:
        """What the members asked for, then every state output, in the config's order."""
        wanted = {n for p in self.members for n in p.checked.outputs}
        names = [s.name for s in self.config.outputs if s.name in wanted]
        return names + [s.output_name for s in self.sb.states if s.output_name not in wanted]

    def feed(self) -> dict[str, Any]:
        """Inputs, controls and states, row after row."""
        template = self.members[0].checked.feed
        feeds = [r.request.checked.feed if r.request is not None else template
                 for r in self.rows]
        first_state = row_state(next(r for r in self.rows if r.request is not None),
                                self.initial)
        states = [row_state(r, self.initial) if r.request is not None else first_state
                  for r in self.rows]
        batched = self.config.batching
        inputs = ({n: np.concatenate([f[n] for f in feeds]) for n in template} if batched
                  else dict(feeds[0]))
        inputs.update(control_feed(self.sb, [_signals(r) for r in self.rows], batched))
        inputs.update(state_feed(states, batched))
        return inputs

    def halves(self) -> tuple[SequenceBatch, SequenceBatch]:
        """The requests split in two batches of their own (without not-ready rows)."""
        real = [r for r in self.rows if r.request is not None]
        middle = len(real) // 2
        return (SequenceBatch(real[:middle], self.config, self.initial),
                SequenceBatch(real[middle:], self.config, self.initial))

    def deliver(self, results: list[np.ndarray], names: list[str]) -> None:
        """Answer each member with its rows of ``results`` and keep its next state.

        Raises:
            BackendError: an output lacks the batch dimension the rows need.
        """
        by_name = dict(zip(names, results, strict=True))
        batched = self.config.batching
        if batched:
            _check_rows(by_name, len(self.rows))
        for i, row in enumerate(self.rows):
            if row.request is None:
                continue
            row.slot.state = next_state(self.sb.states, by_name, i, batched)
            outs = [by_name[n][i:i + 1] if batched else by_name[n]
                    for n in row.request.checked.outputs]
            if not row.request.future.done():
                row.request.future.set_result(outs)

    def fail(self, error: BaseException) -> None:
        """Answer every member that is still waiting with ``error``."""
        for p in self.members:
            if not p.future.done():
                p.future.set_exception(error)


def _signals(row: Row) -> RowSignals:
    if row.request is None:
        return NOT_READY
    params = row.request.params
    return RowSignals(True, params.start, params.end, params.id)


def _check_rows(results: dict[str, np.ndarray], rows: int) -> None:
    for name, arr in results.items():
        if arr.ndim == 0 or arr.shape[0] != rows:
            raise BackendError(f"output '{name}' has shape {list(arr.shape)}; expected a first "
                               f"(batch) dimension of {rows}")
