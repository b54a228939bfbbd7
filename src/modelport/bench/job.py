"""What one isolated runtime process is asked to do, passed to it as JSON, and the arrays
the processes of a run hand each other."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelport.bench.backends.base import Array


@dataclass(frozen=True)
class Job:
    """One runtime, one model, the batch sizes to measure and where to write the results.

    A ``reference`` job measures nothing: it runs each batch once and leaves the outputs that
    every other runtime is compared with.
    """

    model: str
    runtime: str
    outdir: str
    batch_sizes: tuple[int, ...] = (1,)
    precision: str = "auto"
    threads: int = 1
    warmup: int = 5
    min_count: int = 10
    min_duration: float = 2.0
    max_duration: float | None = None
    seq_len: int = 16
    seed: int = 0
    scenario: dict[str, Any] | None = field(default=None)
    reference: bool = False

    def inputs_path(self, batch_size: int) -> Path:
        """Where the parent leaves the inputs of one batch size."""
        return Path(self.outdir) / f"inputs_b{batch_size}.npz"

    def outputs_path(self, batch_size: int) -> Path:
        """Where the worker leaves the outputs of one batch size."""
        return Path(self.outdir) / f"{self._kind}_{self.runtime}_b{batch_size}.npz"

    def result_path(self) -> Path:
        """Where the worker writes its JSON result."""
        return Path(self.outdir) / f"result_{self._kind}_{self.runtime}_{self.precision}.json"

    @property
    def _kind(self) -> str:
        return "reference" if self.reference else "outputs"

    def dumps(self) -> str:
        """The job as JSON."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def loads(cls, text: str) -> Job:
        """Read a job written by ``dumps``."""
        data = json.loads(text)
        data["batch_sizes"] = tuple(data["batch_sizes"])
        return cls(**data)


def read_arrays(path: Path) -> dict[str, Array]:
    """Arrays one process of a run left for another (inputs, outputs); object arrays for BYTES
    need pickle, and the files are the run's own."""
    with np.load(path, allow_pickle=True) as data:
        return {name: data[name] for name in data.files}
