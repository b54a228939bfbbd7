"""Synchronous training on N workers equals one process with N times the batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.training import reference_state, run_ps

pytestmark = pytest.mark.usefixtures("local_ray")


@pytest.mark.parametrize("plane", ["socket", "ray"])
def test_sync_ps_two_workers_equals_one_process_with_double_batch(tiny_spec: Path,
                                                                   tmp_path: Path,
                                                                   plane: str) -> None:
    """2 workers x batch 8 for 20 steps give the weights of one process with batch 16 (1e-5),
    over the direct data plane and over Ray's object store alike."""
    outcome = run_ps(tiny_spec, tmp_path, workers="2", steps=20, batch=8, data_plane=plane)
    expected = reference_state(tiny_spec, workers=2, batch=8, steps=20)
    assert outcome.steps == 20 and outcome.duplicates == 0
    np.testing.assert_allclose(outcome.state, expected, atol=1e-5, rtol=0)
    assert not np.allclose(expected, reference_state(tiny_spec, 2, 8, 0), atol=1e-3)


def test_bounded_staleness_finishes_and_learns(tiny_spec: Path, tmp_path: Path) -> None:
    """--staleness 2 runs every worker through every step and lowers the loss."""
    outcome = run_ps(tiny_spec, tmp_path, workers="2", steps=30, batch=8, staleness=2)
    assert outcome.steps == 30
    assert outcome.losses[-1] < outcome.losses[0]
    assert outcome.max_staleness >= 0
    assert len(outcome.losses) >= 30  # at least one optimizer step per global step


def test_resume_continues_from_the_last_checkpoint(tiny_spec: Path, tmp_path: Path) -> None:
    """A run cut at step 12 with checkpoints every 5, resumed to 20, equals an uncut run."""
    run_ps(tiny_spec, tmp_path, workers="2", steps=12, every=5)
    resumed = run_ps(tiny_spec, tmp_path, workers="2", steps=20, every=5, resume=True)
    assert resumed.start_step == 12  # finish() checkpoints the last step too
    expected = reference_state(tiny_spec, workers=2, batch=8, steps=20)
    np.testing.assert_allclose(resumed.state, expected, atol=1e-5, rtol=0)
