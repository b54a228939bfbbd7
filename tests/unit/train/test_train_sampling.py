"""Sharding: which items each worker trains on, and the one-process equivalent."""

from __future__ import annotations

import numpy as np
import pytest

from modelport.errors import SpecError
from modelport.train.sampling import Sharding


def test_shards_are_disjoint_strided_and_equal() -> None:
    """Shard s holds items s, s+count, ...; all shards have the same size; none overlap."""
    sharding = Sharding(length=103, count=4, batch=5)
    shards = [sharding.shard_items(s) for s in range(4)]
    assert all(len(s) == 25 for s in shards)
    assert list(shards[1][:3]) == [1, 5, 9]
    assert len(np.unique(np.concatenate(shards))) == 100


def test_an_epoch_visits_every_shard_item_once() -> None:
    """Over one epoch a shard's batches are a permutation of (a prefix of) the shard."""
    sharding = Sharding(length=40, count=2, batch=4)
    seen = np.concatenate([sharding.batch_items(1, step, seed=3)
                           for step in range(sharding.steps_per_epoch)])
    assert sorted(seen) == list(sharding.shard_items(1))


def test_batches_depend_only_on_seed_step_and_shard() -> None:
    """The same numbers give the same batch; another epoch or seed gives another order."""
    sharding = Sharding(length=64, count=2, batch=8)
    first = sharding.batch_items(0, 1, seed=0)
    assert np.array_equal(first, sharding.batch_items(0, 1, seed=0))
    assert not np.array_equal(first, sharding.batch_items(0, 1 + sharding.steps_per_epoch, 0))
    assert not np.array_equal(first, sharding.batch_items(0, 1, seed=1))


def test_global_batch_is_the_union_of_shard_batches() -> None:
    """One process's batch N*b at a step is every shard's batch, shard 0 first."""
    sharding = Sharding(length=50, count=3, batch=2)
    union = sharding.global_batch(5, seed=2)
    assert len(union) == 6
    assert list(union[2:4]) == list(sharding.batch_items(1, 5, seed=2))


def test_fewer_items_than_workers_is_refused() -> None:
    """A data set smaller than the worker count gets an error naming both numbers."""
    with pytest.raises(SpecError, match="3 items, fewer than the 4 workers"):
        Sharding(length=3, count=4, batch=1).check()


def test_shard_smaller_than_a_batch_is_refused() -> None:
    """A shard that cannot fill one batch says which flag to lower."""
    with pytest.raises(SpecError, match="--batch-size"):
        Sharding(length=10, count=2, batch=8).check()
