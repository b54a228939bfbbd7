"""The runtime seam: a backend loads one instance of a model; an instance runs a batch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from modelport.repository.config import ModelConfig


@dataclass(frozen=True)
class RuntimeSettings:
    """Server-wide knobs a backend applies to every instance it creates."""

    intra_op_threads: int = 0  # 0: cores divided by the model's instance count
    cache_dir: Path | None = None  # where optimized models are cached; None disables
    # One process-wide ONNX Runtime pool, with new sessions built at background priority.
    # Only for a process the server owns: afterwards every ONNX Runtime session in the
    # process must use the shared pool, which would break a host application's own sessions.
    shared_thread_pool: bool = False
    # Batches whose recent execution took less than this run on the event loop itself, where
    # a thread hand-off would cost more than the model (0 turns it off).
    inline_below_us: int = 150


class Instance(Protocol):
    """One loaded copy of a model. ``run`` is called from one thread at a time.

    BYTES tensors are numpy object arrays: inputs hold ``str`` (text, decoded once by the
    server), outputs may hold ``str`` or ``bytes``.
    """

    def run(
        self, inputs: Mapping[str, np.ndarray], outputs: Sequence[str]
    ) -> list[np.ndarray]:
        """Execute one batch and return the requested outputs in order."""
        ...

    def close(self) -> None:
        """Release the instance's memory; it is not used again."""
        ...


class Backend(Protocol):
    """Creates instances of models it can execute."""

    def load(
        self, path: Path, config: ModelConfig, index: int, settings: RuntimeSettings
    ) -> Instance:
        """Load instance number ``index`` of the model file at ``path``."""
        ...
