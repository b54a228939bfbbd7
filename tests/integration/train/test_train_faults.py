"""Faults: a worker SIGKILLed mid-run, the aggregator killed mid-run."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.training import reference_state, run_ps

ray = pytest.importorskip("ray")


def _kill_at(step: int, pid_of: Any) -> Any:
    """A hook that SIGKILLs the process ``pid_of(dispatcher)`` once, after ``step``."""
    done: list[int] = []

    def hook(dispatcher: Any, event: Any) -> None:
        if event.step == step and not event.waiting and not done:
            pid = pid_of(dispatcher)
            os.kill(pid, signal.SIGKILL)
            done.append(pid)

    hook.killed = done  # type: ignore[attr-defined]
    return hook


@pytest.mark.usefixtures("local_ray")
def test_sigkilled_worker_restarts_and_weights_match(tiny_spec: Path, tmp_path: Path) -> None:
    """A worker killed at step 5 is restarted, the job finishes, and no gradient is lost or
    applied twice: the weights equal one process's with the doubled batch."""
    hook = _kill_at(5, lambda d: d.slots[1].pid)
    outcome = run_ps(tiny_spec, tmp_path, workers="2", steps=15, hook=hook)
    assert hook.killed, "the hook never fired"
    assert outcome.steps == 15 and outcome.worker_restarts == 1
    expected = reference_state(tiny_spec, workers=2, batch=8, steps=15)
    np.testing.assert_allclose(outcome.state, expected, atol=1e-5, rtol=0)


@pytest.mark.usefixtures("local_ray")
def test_killed_aggregator_resumes_from_its_checkpoint(tiny_spec: Path, tmp_path: Path) -> None:
    """The aggregator killed at step 8 (checkpoints every 3) comes back at step 6, the
    dispatcher replays from there, and the final weights are those of an uncut run."""
    hook = _kill_at(8, lambda d: d.aggregator_pid)
    outcome = run_ps(tiny_spec, tmp_path, workers="2", steps=15, every=3, hook=hook)
    assert hook.killed
    assert outcome.steps == 15 and outcome.aggregator_restarts == 1
    expected = reference_state(tiny_spec, workers=2, batch=8, steps=15)
    np.testing.assert_allclose(outcome.state, expected, atol=1e-5, rtol=0)


@pytest.mark.usefixtures("local_ray")
def test_sigkilled_worker_under_bounded_staleness_restarts_and_finishes(
        tiny_spec: Path, tmp_path: Path) -> None:
    """With --staleness 2, a worker killed at step 5 is restarted, its lost task is sent
    again, and every worker still walks through every step while the loss goes down."""
    hook = _kill_at(5, lambda d: d.slots[0].pid)
    outcome = run_ps(tiny_spec, tmp_path, workers="2", steps=20, staleness=2, hook=hook)
    assert hook.killed, "the hook never fired"
    assert outcome.steps == 20 and outcome.worker_restarts == 1
    assert len(outcome.losses) >= 20 and outcome.losses[-1] < outcome.losses[0]


@pytest.mark.usefixtures("local_ray")
def test_killed_aggregator_under_bounded_staleness_rewinds_and_finishes(
        tiny_spec: Path, tmp_path: Path) -> None:
    """With --staleness 2, the aggregator killed at step 8 (checkpoints every 3) comes back
    from its checkpoint, the gradients computed for the lost run are dropped, the workers'
    clocks rewind with it, and the job still reaches every step."""
    hook = _kill_at(8, lambda d: d.aggregator_pid)
    outcome = run_ps(tiny_spec, tmp_path, workers="2", steps=20, staleness=2, every=3,
                     hook=hook)
    assert hook.killed, "the hook never fired"
    assert outcome.steps == 20 and outcome.aggregator_restarts == 1
    assert outcome.losses[-1] < outcome.losses[0]
