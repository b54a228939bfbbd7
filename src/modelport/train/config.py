"""TrainConfig: every setting of a training job, its defaults and its validation in one place."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from modelport.errors import ConfigError

Strategy = Literal["ps", "ddp"]
STRATEGIES: tuple[Strategy, ...] = ("ps", "ddp")
DataPlane = Literal["socket", "ray"]
DATA_PLANES: tuple[DataPlane, ...] = ("socket", "ray")
_RANGE = re.compile(r"^\s*(\d+)\s*(?::\s*(\d+)\s*)?$")


@dataclass(frozen=True)
class WorkerRange:
    """How many workers a job may use: ``MIN:MAX``, or one number for a fixed count."""

    min: int
    max: int

    @property
    def elastic(self) -> bool:
        """Whether workers may join and leave while the job runs."""
        return self.min < self.max

    @classmethod
    def parse(cls, text: str) -> WorkerRange:
        """Parse ``'4'`` or ``'2:4'``.

        Raises:
            ConfigError: not one or two positive integers with MIN <= MAX.
        """
        found = _RANGE.match(text)
        if not found:
            raise ConfigError(f"--workers expects N or MIN:MAX (e.g. 4 or 2:4), got '{text}'")
        low = int(found[1])
        high = int(found[2]) if found[2] is not None else low
        if low < 1 or high < low:
            raise ConfigError(f"--workers {text}: need 1 <= MIN <= MAX")
        return cls(low, high)

    def __str__(self) -> str:
        return str(self.min) if not self.elastic else f"{self.min}:{self.max}"


@dataclass(frozen=True)
class ExportTarget:
    """Where ``--export REPO/NAME`` writes: the repository folder and the model name."""

    repository: Path
    name: str

    @classmethod
    def parse(cls, text: str) -> ExportTarget:
        """Split ``REPO/NAME`` at its last path separator.

        Raises:
            ConfigError: no model name or no repository part.
        """
        path = Path(text.rstrip("/"))
        if not text.strip("/") or not path.name or path.parent == Path("."):
            raise ConfigError(
                f"--export expects REPO/NAME (a repository folder and a model name), got '{text}'"
            )
        return cls(path.parent, path.name)


@dataclass
class TrainConfig:
    """A training job. The CLI fills it from flags; Python callers build it directly.

    Attributes:
        spec: the training spec file (see docs/train.md).
        workers: worker count, or an elastic range.
        steps: total optimizer steps; 0 means derive from ``epochs``.
        epochs: passes over the data set when ``steps`` is 0.
        batch_size: samples per worker per step; 0 means the spec's ``batch_size`` (or 32).
        strategy: ``ps`` (parameter server on Ray Core) or ``ddp`` (Ray Train's TorchTrainer).
        staleness: ``ps`` only; 0 is synchronous, K > 0 lets a worker run up to K steps ahead
            of the slowest one.
        seed: seeds the model's initial weights and the data order.
        address: ``None`` starts an embedded local Ray; else ``auto``, ``HOST:PORT`` or
            ``ray://HOST:PORT``.
        checkpoint_dir: where the aggregator checkpoints; ``None`` uses a folder per run.
        checkpoint_every: steps between checkpoints.
        resume: continue from the last checkpoint in ``checkpoint_dir``.
        export: write the model as the next version of ``REPO/NAME``.
        serve_url: load the exported model through this server's explicit-mode API.
        serve_token: bearer token for the server's control plane.
        cpus_per_worker: Ray CPUs each worker reserves (also its torch threads, at least 1).
        step_timeout: seconds a step may wait for a lost worker before giving up.
        data_plane: how synchronous ``ps`` moves weights and gradients: ``socket`` (a direct
            connection from each worker to the aggregator, the default) or ``ray`` (two
            actor calls through Ray's object store per step; always used with staleness).
        tolerance: largest torch-vs-ONNX Runtime difference accepted at export.
    """

    spec: Path
    workers: WorkerRange = WorkerRange(1, 1)
    steps: int = 0
    epochs: int = 1
    batch_size: int = 0
    strategy: Strategy = "ps"
    staleness: int = 0
    seed: int = 0
    address: str | None = None
    checkpoint_dir: Path | None = None
    checkpoint_every: int = 50
    resume: bool = False
    export: ExportTarget | None = None
    serve_url: str | None = None
    serve_token: str | None = None
    cpus_per_worker: float = 1.0
    step_timeout: float = 300.0
    tolerance: float = 1e-4
    data_plane: DataPlane = "socket"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check values and their combinations.

        Raises:
            ConfigError: with what is wrong and the flag that fixes it.
        """
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"--strategy must be one of {', '.join(STRATEGIES)}, "
                              f"got '{self.strategy}'")
        for flag, value in (("--steps", self.steps), ("--batch-size", self.batch_size),
                            ("--staleness", self.staleness)):
            if value < 0:
                raise ConfigError(f"{flag} must be >= 0, got {value}")
        if self.steps == 0 and self.epochs < 1:
            raise ConfigError(f"--epochs must be >= 1, got {self.epochs}")
        if self.checkpoint_every < 1:
            raise ConfigError(f"--checkpoint-every must be >= 1, got {self.checkpoint_every}")
        if self.cpus_per_worker <= 0:
            raise ConfigError(f"--cpus-per-worker must be > 0, got {self.cpus_per_worker}")
        if self.step_timeout <= 0:
            raise ConfigError(f"--step-timeout must be > 0, got {self.step_timeout}")
        if self.data_plane not in DATA_PLANES:
            raise ConfigError(f"--data-plane must be one of {', '.join(DATA_PLANES)}, "
                              f"got '{self.data_plane}'")
        if self.staleness and self.strategy != "ps":
            raise ConfigError("--staleness applies to --strategy ps only")
        if self.resume and self.strategy == "ddp":
            raise ConfigError("--resume works with --strategy ps; a ddp job restarts from its "
                              "checkpoints by itself while it runs")
        if self.resume and self.checkpoint_dir is None:
            raise ConfigError("--resume needs --checkpoint-dir (the folder of the earlier run)")
        if self.serve_url is not None and self.export is None:
            raise ConfigError("--serve-url needs --export REPO/NAME (the server's repository)")
