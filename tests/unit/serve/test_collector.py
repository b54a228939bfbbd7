"""The server's garbage-collector pace."""

from __future__ import annotations

import gc

from modelport.serve import collector


def test_tune_collects_the_young_generation_less_often() -> None:
    """tune() raises the youngest generation's threshold far above Python's 700."""
    before = gc.get_threshold()
    try:
        collector.tune()
        assert gc.get_threshold() == collector.THRESHOLDS
        assert collector.THRESHOLDS[0] >= 10 * 700
    finally:
        gc.set_threshold(*before)
