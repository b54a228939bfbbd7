"""TrainConfig, WorkerRange and ExportTarget: parsing and validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport.errors import ConfigError
from modelport.train.config import ExportTarget, TrainConfig, WorkerRange


@pytest.mark.parametrize(("text", "low", "high"), [("4", 4, 4), ("2:4", 2, 4), (" 1 : 3 ", 1, 3)])
def test_worker_range_parses_fixed_and_elastic(text: str, low: int, high: int) -> None:
    """'N' is a fixed count, 'MIN:MAX' an elastic range."""
    parsed = WorkerRange.parse(text)
    assert (parsed.min, parsed.max) == (low, high)
    assert parsed.elastic == (low < high)


@pytest.mark.parametrize("text", ["0", "3:2", "a", "1:2:3", "-1", ""])
def test_worker_range_rejects_nonsense(text: str) -> None:
    """Zero, reversed ranges and non-numbers are refused with the expected form in the message."""
    with pytest.raises(ConfigError, match="--workers"):
        WorkerRange.parse(text)


def test_export_target_splits_repository_and_name() -> None:
    """REPO/NAME splits at the last separator."""
    target = ExportTarget.parse("models/sub/digits/")
    assert (target.repository, target.name) == (Path("models/sub"), "digits")


@pytest.mark.parametrize("text", ["digits", "/", ""])
def test_export_target_needs_a_repository_and_a_name(text: str) -> None:
    """A bare name or an empty path is refused."""
    with pytest.raises(ConfigError, match="REPO/NAME"):
        ExportTarget.parse(text)


@pytest.mark.parametrize(("kwargs", "flag"), [
    ({"steps": -1}, "--steps"),
    ({"epochs": 0}, "--epochs"),
    ({"checkpoint_every": 0}, "--checkpoint-every"),
    ({"cpus_per_worker": 0}, "--cpus-per-worker"),
    ({"staleness": 2, "strategy": "ddp"}, "--staleness"),
    ({"resume": True}, "--resume"),
    ({"resume": True, "strategy": "ddp", "checkpoint_dir": Path("c")}, "--resume"),
    ({"serve_url": "http://127.0.0.1:1"}, "--serve-url"),
    ({"strategy": "horovod"}, "--strategy"),
    ({"data_plane": "rdma"}, "--data-plane"),
])
def test_config_names_the_flag_at_fault(kwargs: dict[str, object], flag: str) -> None:
    """Each invalid setting or combination raises ConfigError naming the flag to change."""
    with pytest.raises(ConfigError, match=flag):
        TrainConfig(spec=Path("spec.py"), **kwargs)  # type: ignore[arg-type]


def test_config_defaults_are_a_valid_job() -> None:
    """A spec alone is a valid job: one worker, one epoch, ps, synchronous."""
    config = TrainConfig(spec=Path("spec.py"))
    assert (config.workers, config.epochs, config.strategy, config.staleness) == (
        WorkerRange(1, 1), 1, "ps", 0)
