"""TrainSummary: what a finished job reports, as text for people and one JSON object for tools."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class TrainSummary:
    """The result of ``modelport train``.

    Attributes:
        strategy: ``ps`` or ``ddp``.
        steps: optimizer steps the model has taken (including resumed ones).
        start_step: the step the run started from (non-zero after ``--resume``).
        seconds: wall time of the training loop, once the workers were up.
        startup_seconds: time to start the aggregator and the workers.
        steps_per_second: steps of this run per second.
        final_loss: the loss of the last step (mean over its global batch).
        metrics: what the spec's ``evaluate`` returned.
        workers: workers at the end.
        worker_restarts: worker processes Ray restarted during the run.
        aggregator_restarts: times Ray restarted the aggregator, seen by its process id (each
            time it goes on from its last checkpoint).
        duplicates: gradients delivered twice and applied once.
        max_staleness: largest number of versions a merged gradient was behind (``ps`` K>0).
        exported: the folder of the exported version, if any.
        export_max_abs_diff: largest |torch - ONNX Runtime| on the agreement inputs.
        served: the server URL that loaded the model, if any.
    """

    strategy: str
    steps: int
    start_step: int = 0
    seconds: float = 0.0
    startup_seconds: float = 0.0
    steps_per_second: float = 0.0
    final_loss: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    workers: int = 0
    worker_restarts: int = 0
    aggregator_restarts: int = 0
    duplicates: int = 0
    max_staleness: int = 0
    exported: str | None = None
    export_max_abs_diff: float | None = None
    export_tolerance: float | None = None
    served: str | None = None

    def to_json(self) -> str:
        """One JSON object (NaN losses become null)."""
        data: dict[str, Any] = asdict(self)
        for key, value in data.items():
            if isinstance(value, float) and not math.isfinite(value):
                data[key] = None
        return json.dumps(data, sort_keys=True)

    def lines(self) -> list[str]:
        """The summary as text lines."""
        rate = f"{self.steps_per_second:.1f} steps/s"
        out = [f"trained {self.steps - self.start_step} steps ({self.strategy}, "
               f"{self.workers} workers) in {self.seconds:.1f}s, {rate} "
               f"(workers started in {self.startup_seconds:.1f}s)"
               + (f", resumed at step {self.start_step}" if self.start_step else "")]
        if self.final_loss is not None and math.isfinite(self.final_loss):
            out.append(f"final loss {self.final_loss:.4f}")
        out += [f"{name} {value:.4g}" for name, value in sorted(self.metrics.items())]
        faults = [f"{n} {what}" for n, what in ((self.worker_restarts, "worker restarts"),
                  (self.aggregator_restarts, "aggregator restarts"),
                  (self.duplicates, "duplicate gradients skipped")) if n]
        if faults:
            out.append("recovered from: " + ", ".join(faults))
        if self.max_staleness:
            out.append(f"largest gradient staleness {self.max_staleness} versions")
        if self.exported:
            out.append(f"exported {self.exported} (torch vs ONNX Runtime max |diff| "
                       f"{self.export_max_abs_diff:.2e}, tolerance {self.export_tolerance:.0e})")
        if self.served:
            out.append(f"loaded on {self.served}")
        return out
