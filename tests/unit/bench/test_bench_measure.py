"""The measurement loop on a fake clock."""

from __future__ import annotations

from modelport.bench.measure import measure
from modelport.bench.stats import StopRule


class FakeClock:
    """A clock that advances only when the measured call runs."""

    def __init__(self, first: float, steady: float) -> None:
        self.now = 0.0
        self.first = first
        self.steady = steady
        self.calls = 0

    def __call__(self) -> float:
        return self.now

    def call(self) -> None:
        self.now += self.first if self.calls == 0 else self.steady
        self.calls += 1


def test_first_call_and_warmup_are_not_in_steady_state() -> None:
    """The cold call is reported apart and warm-up calls are not recorded."""
    clock = FakeClock(first=5.0, steady=0.1)
    m = measure(clock.call, 4, StopRule(3, 0.0), warmup=2, clock=clock)
    assert m.first_call_s == 5.0
    assert len(m.latencies) == 3
    assert clock.calls == 1 + 2 + 3
    assert all(abs(x - 0.1) < 1e-9 for x in m.latencies)


def test_duration_dominates_when_calls_are_fast() -> None:
    """With fast calls the loop runs until min_duration is reached."""
    clock = FakeClock(first=0.125, steady=0.125)  # exact in binary floating point
    m = measure(clock.call, 1, StopRule(3, 1.0), warmup=0, clock=clock)
    assert len(m.latencies) == 8
    assert abs(m.wall_s - 1.0) < 1e-9


def test_count_dominates_when_calls_are_slow() -> None:
    """With slow calls the loop runs until min_count is reached."""
    clock = FakeClock(first=1.0, steady=1.0)
    m = measure(clock.call, 8, StopRule(20, 1.0), warmup=0, clock=clock)
    assert len(m.latencies) == 20
    assert abs(m.throughput - 8.0) < 1e-9


def test_progress_is_reported_per_call() -> None:
    """The progress callback sees every steady-state call."""
    clock = FakeClock(first=0.5, steady=0.5)
    seen: list[int] = []
    measure(clock.call, 1, StopRule(4, 0.0), 0, clock, lambda n, _: seen.append(n))
    assert seen == [1, 2, 3, 4]
