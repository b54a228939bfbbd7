"""What the dispatcher, the workers and the aggregator say to each other (small, picklable)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GradTask:
    """Compute one gradient: data step ``step`` of shard ``shard`` out of ``shards``."""

    step: int
    shard: int
    shards: int


@dataclass(frozen=True)
class GradMeta:
    """What a worker reports with a gradient; the gradient itself travels as its own object."""

    step: int
    shard: int
    loss: float
    samples: int
    pid: int
    seconds: float


@dataclass(frozen=True)
class ApplyStatus:
    """The aggregator's state after an apply (or when asked).

    ``version`` counts optimizer steps taken; ``clocks`` maps a worker key to the next data step
    it owes; ``rewound`` is set when the aggregator restarted from a checkpoint and the caller
    must go back to ``version``; ``duplicates`` counts gradients it refused to apply twice;
    ``pid`` is the aggregator's process, so a restart that lost nothing is still seen.
    """

    version: int
    clocks: dict[int, int] = field(default_factory=dict)
    rewound: bool = False
    applied: int = 0
    duplicates: int = 0
    restored_from: int | None = None
    pid: int = 0


@dataclass(frozen=True)
class StepEvent:
    """Progress after a step (or while a step waits, with ``waiting`` set)."""

    step: int
    total: int
    loss: float
    alive: int
    workers: int
    restarts: int
    waiting: bool = False
