"""A backend with no model file: echoes inputs to outputs, optionally after a delay.

Config parameters: ``delay_ms`` (sleep per batch), ``fail_on`` (an input value that makes the
batch raise ComputeFailed, as a runtime does when a kernel rejects a value). Used by tests of
the scheduler and by users trying the server's plumbing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from modelport.datatypes import BY_NAME
from modelport.errors import ComputeFailed
from modelport.repository.config import ModelConfig
from modelport.runtime.base import Instance, RuntimeSettings


class FakeInstance:
    """Output i is input i cast to output i's datatype."""

    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self.delay_s = float(config.parameters.get("delay_ms", "0")) / 1000.0
        fail_on = config.parameters.get("fail_on")
        self.fail_on = float(fail_on) if fail_on is not None else None
        self.batches: list[int] = []  # batch sizes seen, for tests and diagnostics

    def run(self, inputs: Mapping[str, np.ndarray], outputs: Sequence[str]) -> list[np.ndarray]:
        """Sleep ``delay_ms`` then echo."""
        if self.delay_s:
            time.sleep(self.delay_s)
        arrays = [inputs[spec.name] for spec in self.config.inputs if spec.name in inputs]
        first = arrays[0]
        self.batches.append(int(first.shape[0]) if first.ndim else 1)
        if self.fail_on is not None and first.dtype.kind in "fiu" and (first == self.fail_on).any():
            raise ComputeFailed(f"model '{self.config.name}' cannot compute this request: input "
                                f"'{self.config.inputs[0].name}' holds {self.fail_on}, which the "
                                "fake backend was asked to fail on")
        result = []
        for name in outputs:
            index = next(i for i, s in enumerate(self.config.outputs) if s.name == name)
            source = arrays[min(index, len(arrays) - 1)]
            result.append(source.astype(BY_NAME[self.config.outputs[index].datatype].numpy))
        return result

    def close(self) -> None:
        """Nothing to release."""


class FakeBackend:
    """Creates FakeInstance objects."""

    def load(
        self, path: Path, config: ModelConfig, index: int, settings: RuntimeSettings
    ) -> Instance:
        """Create an echo instance; ``path`` is ignored."""
        return FakeInstance(config)
