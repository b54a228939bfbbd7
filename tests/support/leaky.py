"""A test-only backend that deliberately keeps memory for every batch it runs.

The leak test starts a server with MODELPORT_EXTRA_BACKENDS=leaky=support.leaky:LeakyBackend
and expects ``modelport doctor memory`` to name the line marked below.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from modelport.repository.config import ModelConfig
from modelport.runtime.base import Instance, RuntimeSettings
from modelport.runtime.fake import FakeInstance

RETAINED: list[bytearray] = []
LEAK_BYTES = 64 * 1024


class LeakyInstance(FakeInstance):
    """Echoes like the fake backend, and never frees a buffer per batch."""

    def run(self, inputs: Mapping[str, np.ndarray], outputs: Sequence[str]) -> list[np.ndarray]:
        """Leak, then echo."""
        RETAINED.append(bytearray(LEAK_BYTES))  # the leak doctor must find
        return super().run(inputs, outputs)


class LeakyBackend:
    """Creates LeakyInstance objects."""

    def load(self, path: Path, config: ModelConfig, index: int,
             settings: RuntimeSettings) -> Instance:
        """A leaking echo instance."""
        return LeakyInstance(config)
