"""A runtime that needs no library: deterministic outputs and a configurable delay.

Like httpx's MockTransport it ships in the package, so tests and users can exercise the whole
benchmark pipeline (isolation, statistics, rendering) without any inference engine.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from modelport.bench.backends.base import Array, Backend, BackendInfo, BackendOptions
from modelport.errors import RuntimeUnavailable


class FakeBackend(Backend):
    """Outputs each ONNX output filled with the per-row mean of the first input, plus offset.

    Args:
        latency: seconds each ``run`` sleeps, to stand for compute.
        offset: added to every output, to simulate a runtime that disagrees with the reference.
        unavailable: when set, ``load`` raises RuntimeUnavailable with this message.
        precision: the precision the fake reports.
    """

    name = "fake"

    def __init__(
        self,
        latency: float = 0.001,
        offset: float = 0.0,
        unavailable: str | None = None,
        precision: str = "fp32",
    ) -> None:
        self.latency = latency
        self.offset = offset
        self.unavailable = unavailable
        self.precision = precision
        self.outputs: list[tuple[str, tuple[int, ...]]] = []
        self.calls = 0

    def load(self, model: Path, options: BackendOptions) -> BackendInfo:
        """Read the output names and static shapes of the ONNX graph."""
        if self.unavailable:
            raise RuntimeUnavailable(self.unavailable)
        import onnx

        graph = onnx.load(str(model), load_external_data=False).graph
        for out in graph.output:
            dims = out.type.tensor_type.shape.dim[1:]
            self.outputs.append((out.name, tuple(d.dim_value or 1 for d in dims)))
        precision = self.precision if options.precision == "auto" else options.precision
        return BackendInfo("fake", "0", "cpu", precision, options.threads, "no computation")

    def run(self, inputs: Mapping[str, Array]) -> dict[str, Array]:
        """Sleep for ``latency`` and return outputs derived from the first input."""
        self.calls += 1
        if self.latency:
            time.sleep(self.latency)
        first = np.asarray(next(iter(inputs.values())), dtype=np.float64)
        rows = first.reshape(first.shape[0], -1).mean(axis=1) + self.offset
        result: dict[str, Array] = {}
        for name, shape in self.outputs:
            filled = np.broadcast_to(rows.reshape((-1,) + (1,) * len(shape)), (len(rows), *shape))
            result[name] = filled.astype(np.float32)
        return result
