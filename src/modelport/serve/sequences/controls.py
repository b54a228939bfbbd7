"""The control tensors the sequence batcher feeds a stateful model, one row per batch slot.

START, END and READY carry the config's false/true values (INT32, FP32 or BOOL); CORRID carries
the correlation ID (integer types, or text for TYPE_STRING). Each tensor is [batch, 1] for a
model with a batch dimension and [1] without one, as in Triton. A row that holds no request
(a Direct batch slot with nothing ready) is all false, with correlation ID 0 (or "").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from modelport.datatypes import BY_NAME
from modelport.errors import InvalidInput
from modelport.repository.sequence import Control, SequenceBatching
from modelport.serve.sequences.params import CorrelationId


@dataclass(frozen=True)
class RowSignals:
    """What one batch row tells the model."""

    ready: bool
    start: bool = False
    end: bool = False
    corrid: CorrelationId = 0


NOT_READY = RowSignals(ready=False)
_INT_RANGES = {"UINT64": (0, 2**64 - 1), "INT64": (-(2**63), 2**63 - 1),
               "UINT32": (0, 2**32 - 1), "INT32": (-(2**31), 2**31 - 1)}


def control_feed(sb: SequenceBatching, rows: Sequence[RowSignals],
                 batched: bool) -> dict[str, np.ndarray]:
    """Every control tensor the model takes, for ``rows`` in batch order."""
    feed: dict[str, np.ndarray] = {}
    for control in sb.controls:
        values = [_value(control, row) for row in rows]
        array = np.array(values, dtype=BY_NAME[control.datatype].numpy)
        feed[control.input] = array.reshape(len(rows), 1) if batched else array.reshape(1)
    return feed


def _value(control: Control, row: RowSignals) -> object:
    if control.kind == "CORRID":
        if control.datatype == "BYTES":
            return str(row.corrid) if row.ready else ""
        return row.corrid if row.ready else 0
    on = {"START": row.start, "END": row.end, "READY": True}[control.kind] and row.ready
    return control.false_true[1] if on else control.false_true[0]


def check_corrid(sb: SequenceBatching, model: str, corrid: CorrelationId) -> None:
    """Refuse a correlation ID the model's CORRID tensor cannot carry.

    Raises:
        InvalidInput: a string ID for an integer CORRID, or an integer out of its range.
    """
    control = sb.control("CORRID")
    if control is None or control.datatype == "BYTES":
        return
    what = (f"model '{model}' takes integer correlation IDs (its CONTROL_SEQUENCE_CORRID "
            f"input '{control.input}' is {control.datatype})")
    if isinstance(corrid, str):
        raise InvalidInput(f"{what}: sequence_id '{corrid}' is a string; send an integer")
    low, high = _INT_RANGES[control.datatype]
    if not low <= corrid <= high:
        raise InvalidInput(f"{what}: sequence_id {corrid} is outside {low}..{high}")
