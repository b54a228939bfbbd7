"""A queued request of a sequence: the dynamic batcher's Pending plus its sequence flags."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import numpy as np

from modelport.serve.batch import Pending
from modelport.serve.sequences.params import SequenceParams

if TYPE_CHECKING:
    from modelport.serve.tracing import RequestTrace
    from modelport.serve.validate import Checked


class SequencePending(Pending):
    """One request waiting in its sequence's slot or in the backlog."""

    __slots__ = ("params",)

    def __init__(self, checked: Checked, params: SequenceParams,
                 future: asyncio.Future[list[np.ndarray]], trace: RequestTrace | None) -> None:
        super().__init__(checked, future, trace)
        self.params = params
