"""Percentiles, summaries and the stopping rule."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelport.bench.stats import LatencySummary, StopRule, percentile


@given(
    st.lists(st.floats(0, 1e3, allow_nan=False), min_size=1, max_size=200),
    st.floats(0, 100),
)
def test_percentile_matches_numpy_linear(samples: list[float], q: float) -> None:
    """percentile() equals numpy's default (linear) method on any sample."""
    assert percentile(samples, q) == pytest.approx(np.percentile(samples, q), rel=1e-9, abs=1e-9)


def test_percentile_known_values() -> None:
    """p50 of 1..100 is 50.5 and p99 interpolates between 99 and 100."""
    data = [float(i) for i in range(1, 101)]
    assert percentile(data, 50) == pytest.approx(50.5)
    assert percentile(data, 99) == pytest.approx(99.01)
    assert percentile([3.0], 90) == 3.0


def test_percentile_rejects_empty_and_out_of_range() -> None:
    """Empty samples and q outside 0..100 are errors, not silent zeros."""
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summary_fields() -> None:
    """The summary reports count, mean, sample stdev, extremes and percentiles."""
    s = LatencySummary.of([1.0, 2.0, 3.0, 4.0])
    assert (s.count, s.mean, s.minimum, s.maximum) == (4, 2.5, 1.0, 4.0)
    assert s.stdev == pytest.approx(np.std([1, 2, 3, 4], ddof=1))
    assert s.p50 == pytest.approx(2.5)
    assert s.p99 == pytest.approx(np.percentile([1, 2, 3, 4], 99))


def test_stop_rule_needs_both_count_and_duration() -> None:
    """Neither enough calls alone nor enough time alone stops the loop."""
    rule = StopRule(min_count=10, min_duration=2.0)
    assert not rule.done(100, 1.9)
    assert not rule.done(9, 50.0)
    assert rule.done(10, 2.0)


def test_stop_rule_max_duration_caps_slow_runs_after_min_count() -> None:
    """max_duration ends the loop only once min_count is reached."""
    rule = StopRule(min_count=5, min_duration=10.0, max_duration=3.0 + 7.0)
    assert not rule.done(4, 100.0)
    assert rule.done(5, 10.0)
    capped = StopRule(min_count=5, min_duration=1.0, max_duration=2.0)
    assert capped.done(5, 2.0)


def test_stop_rule_validation() -> None:
    """Impossible rules are rejected."""
    with pytest.raises(ValueError):
        StopRule(min_count=0)
    with pytest.raises(ValueError):
        StopRule(min_duration=5.0, max_duration=1.0)
