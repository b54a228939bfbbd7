"""BenchConfig: every setting of a local benchmark, with defaults and validation in one place."""

from __future__ import annotations

from dataclasses import dataclass

from modelport.bench.backends import spec_of
from modelport.bench.backends.base import PRECISIONS
from modelport.errors import BenchError, ConfigError

COMPLIANT_TIMEOUT_S = 4 * 3600.0  # 600 s minimum per scenario, more for 270k-query runs
SCENARIOS = ("singlestream", "multistream", "server", "offline")


@dataclass(frozen=True)
class RuntimeChoice:
    """A runtime and the precision asked of it, written ``name`` or ``name@precision``."""

    name: str
    precision: str = "auto"

    @classmethod
    def parse(cls, text: str) -> RuntimeChoice:
        """Parse ``openvino@bf16``-style text.

        Raises:
            ConfigError: unknown runtime or precision.
        """
        name, _, precision = text.strip().partition("@")
        precision = precision or "auto"
        if precision not in PRECISIONS:
            raise ConfigError(f"unknown precision '{precision}'; use {', '.join(PRECISIONS)}")
        try:
            spec_of(name)
        except BenchError as exc:
            raise ConfigError(str(exc)) from None
        return cls(name, precision)

    @property
    def label(self) -> str:
        """How the choice is shown in tables."""
        return self.name if self.precision == "auto" else f"{self.name}@{self.precision}"


@dataclass(frozen=True)
class ScenarioConfig:
    """An MLPerf LoadGen scenario; short by default, official durations when compliant."""

    name: str
    compliant: bool = False
    min_duration: float = 10.0
    min_query_count: int = 64
    samples_per_query: int = 8  # MultiStream
    target_qps: float | None = None  # Server; measured from a quick SingleStream probe if None
    target_latency_ms: float | None = None  # Server p99 bound
    sample_count: int = 64

    def __post_init__(self) -> None:
        if self.name not in SCENARIOS:
            raise ConfigError(f"unknown scenario '{self.name}'; use {', '.join(SCENARIOS)}")
        if self.min_duration <= 0 or self.min_query_count < 1 or self.sample_count < 1:
            raise ConfigError("scenario durations and counts must be positive")


@dataclass(frozen=True)
class BenchConfig:
    """A local benchmark of one model on several runtimes.

    Args:
        model: an .onnx file or the name of a model of the demo repository.
        runtimes: choices to run; empty means every available runtime.
        batch_sizes: batch sizes to measure, each with its own first call.
        threads: intra-op threads for every runtime (0: the cores this process may use).
        warmup: unrecorded calls after the first one.
        min_count, min_duration: the steady-state loop runs until both are met.
        max_duration: a slow runtime stops after this many seconds once min_count is met.
        reference: runtime computing the reference outputs (fp32).
        scenario: run an MLPerf scenario instead of the plain loop.
        timeout: seconds one runtime's process may take (raised to 4 h for compliant runs).
        keep_latencies: save raw latencies (thinned to 2000 per row) for plots.
    """

    model: str
    runtimes: tuple[RuntimeChoice, ...] = ()
    batch_sizes: tuple[int, ...] = (1,)
    threads: int = 0
    warmup: int = 5
    min_count: int = 10
    min_duration: float = 2.0
    max_duration: float | None = 60.0
    seq_len: int = 16
    seed: int = 0
    reference: str = "onnxruntime"
    scenario: ScenarioConfig | None = None
    timeout: float = 900.0
    keep_latencies: bool = True

    def __post_init__(self) -> None:
        if not self.batch_sizes or any(b < 1 for b in self.batch_sizes):
            raise ConfigError("batch sizes must be positive integers")
        if self.threads < 0 or self.warmup < 0 or self.min_count < 1:
            raise ConfigError("threads and warmup must be >= 0 and min_count >= 1")
        if self.min_duration < 0:
            raise ConfigError("min_duration must not be negative")
        if self.max_duration is not None and self.max_duration < self.min_duration:
            raise ConfigError("max_duration must not be below min_duration")
        if self.seq_len < 1:
            raise ConfigError("seq_len must be positive")
        if self.scenario is not None and self.scenario.compliant:
            object.__setattr__(self, "timeout", max(self.timeout, COMPLIANT_TIMEOUT_S))
