"""FlatModel and the Aggregator without Ray: layout, de-duplication, checkpoints, rewinds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from modelport.train.aggregator import Aggregator  # noqa: E402
from modelport.train.checkpoint import CheckpointStore  # noqa: E402
from modelport.train.flat import FlatModel  # noqa: E402
from modelport.train.spec import SpecSource  # noqa: E402

SPEC = """
import torch
def model(): return torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
def dataset(): return [(torch.zeros(3), torch.zeros(2))] * 8
def loss(output, target): return ((output - target) ** 2).mean()
def optimizer(parameters): return torch.optim.SGD(parameters, lr=0.5, momentum=0.9)
"""


def _source(tmp_path: Path) -> SpecSource:
    path = tmp_path / "spec.py"
    path.write_text(SPEC)
    return SpecSource.read(path)


def _aggregator(tmp_path: Path, every: int = 2, restore: bool = False) -> Aggregator:
    return Aggregator(_source(tmp_path), seed=0, checkpoint_dir=str(tmp_path / "ckpt"),
                      every=every, staleness=0, restore=restore)


def test_flat_model_parameters_are_views_of_one_vector() -> None:
    """Loading a state vector changes the parameters and buffers; state() reads them back."""
    module = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    flat = FlatModel(module)
    assert flat.param_size == 3 * 2 + 2 + 2 + 2 and flat.size == flat.param_size + 4
    flat.load(np.arange(flat.size, dtype=np.float32))
    assert module[0].weight[0, 1].item() == 1.0
    assert module[1].running_var[1].item() == flat.size - 1
    assert np.array_equal(flat.state(), np.arange(flat.size, dtype=np.float32))


def test_flat_model_refuses_float64() -> None:
    """A float64 model is refused with a message about float32."""
    from modelport.errors import SpecError

    with pytest.raises(SpecError, match="float32"):
        FlatModel(torch.nn.Linear(2, 2).double())


def test_apply_steps_once_and_skips_duplicates(tmp_path: Path) -> None:
    """The same (step, worker) key delivered twice is applied once and counted."""
    agg = _aggregator(tmp_path)
    start = agg.current()[1].copy()  # the aggregator publishes its own vector; Ray copies it
    grad = np.ones(agg.model.size, dtype=np.float32)
    status, published = agg.apply(0, [(0, 0), (0, 1)], 2, grad, grad)
    after = published.copy()
    assert status.version == 1 and status.applied == 2
    assert not np.allclose(start[:agg.model.param_size], after[:agg.model.param_size])
    status, again = agg.apply(1, [(0, 0)], 1, grad)
    assert status.duplicates == 1 and status.version == 1
    assert np.array_equal(after, again)


def test_apply_for_another_version_answers_rewound(tmp_path: Path) -> None:
    """An apply for a version the aggregator is not at changes nothing and says rewound."""
    agg = _aggregator(tmp_path)
    grad = np.ones(agg.model.size, dtype=np.float32)
    status, _ = agg.apply(5, [(5, 0)], 1, grad)
    assert status.rewound and status.version == 0


def test_restart_restores_the_newest_checkpoint(tmp_path: Path) -> None:
    """A restored aggregator continues from its last checkpoint with the same optimizer state."""
    agg = _aggregator(tmp_path, every=2)
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(agg.model.size).astype(np.float32) for _ in range(3)]
    for step, grad in enumerate(grads):
        agg.apply(step, [(step, 0)], 1, grad)
    assert CheckpointStore(tmp_path / "ckpt").steps() == [2]
    restored = _aggregator(tmp_path, every=2, restore=True)
    assert restored.version == 2 and restored.restored_from == 2
    status, state = restored.apply(2, [(2, 0)], 1, grads[2])
    assert status.version == 3
    np.testing.assert_array_equal(state, agg.current()[1])


def test_restored_keys_still_refuse_duplicates(tmp_path: Path) -> None:
    """Keys applied before a checkpoint are still refused after a restore."""
    agg = _aggregator(tmp_path, every=1)
    grad = np.ones(agg.model.size, dtype=np.float32)
    agg.apply(0, [(0, 0)], 1, grad)
    restored = _aggregator(tmp_path, every=1, restore=True)
    status, _ = restored.apply(1, [(0, 0)], 1, grad)
    assert status.duplicates == 1 and status.version == 1


def test_checkpoint_store_refuses_to_overwrite_without_resume(tmp_path: Path) -> None:
    """A folder with a checkpoint is refused for a fresh run and accepted with resume."""
    from modelport.errors import ConfigError

    store = CheckpointStore(tmp_path)
    store.save(7, {"x": torch.zeros(1)})
    with pytest.raises(ConfigError, match="--resume"):
        store.check_fresh_start(resume=False)
    store.check_fresh_start(resume=True)
    for step in (8, 9):
        store.save(step, {"x": torch.zeros(1)})
    assert store.steps() == [8, 9]
