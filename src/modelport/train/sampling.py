"""Which samples each worker trains on at each step: a pure function of the seed and the step.

The data set is cut into ``count`` strided shards of equal size (item ``i`` belongs to shard
``i % count``; the remainder is left out). Each epoch, every shard is shuffled with a generator
seeded by (seed, epoch, shard, count), and step ``s`` takes the next ``batch`` items of it.
Because the choice depends only on these numbers, a restarted worker recomputes exactly the
batch it lost, and one process that takes the union of all shards' batches sees the same
global batch as ``count`` workers together (what the correctness tests compare).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modelport.errors import SpecError


@dataclass(frozen=True)
class Sharding:
    """``count`` shards of a data set of ``length`` items, ``batch`` items per shard per step."""

    length: int
    count: int
    batch: int

    @property
    def shard_size(self) -> int:
        """Items in each shard."""
        return self.length // self.count

    @property
    def steps_per_epoch(self) -> int:
        """Steps until every shard has been seen once."""
        return self.shard_size // self.batch

    def check(self) -> None:
        """Refuse shardings that cannot make one step.

        Raises:
            SpecError: fewer items than workers, or a shard smaller than a batch.
        """
        if self.length < self.count:
            raise SpecError(f"the data set has {self.length} items, fewer than the {self.count} "
                            "workers: use fewer --workers or a larger data set")
        if self.steps_per_epoch < 1:
            raise SpecError(f"each of the {self.count} workers gets {self.shard_size} items, "
                            f"fewer than the batch size {self.batch}: lower --batch-size or "
                            "--workers")

    def shard_items(self, shard: int) -> np.ndarray:
        """Data set indices of one shard, in order."""
        return np.arange(shard, self.shard_size * self.count, self.count, dtype=np.int64)

    def batch_positions(self, shard: int, step: int, seed: int) -> np.ndarray:
        """Positions within shard ``shard`` (``0..shard_size-1``) that make up step ``step``."""
        epoch, within = divmod(step, self.steps_per_epoch)
        rng = np.random.default_rng([seed, epoch, shard, self.count])
        order = rng.permutation(self.shard_size)
        positions: np.ndarray = order[within * self.batch:(within + 1) * self.batch]
        return positions

    def batch_items(self, shard: int, step: int, seed: int) -> np.ndarray:
        """Data set indices of shard ``shard``'s batch at ``step``."""
        items: np.ndarray = self.shard_items(shard)[self.batch_positions(shard, step, seed)]
        return items

    def global_batch(self, step: int, seed: int) -> np.ndarray:
        """Every shard's batch at ``step``, shard 0 first: what one process would train on."""
        return np.concatenate([self.batch_items(s, step, seed) for s in range(self.count)])
