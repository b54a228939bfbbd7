"""A gradient worker: holds its shard of the data set and turns (weights, step) into a gradient.

``compute`` is a pure function of the published weights and the task, so running it twice
(after a restart, or because a task was retried) gives the same gradient; the aggregator keeps
the first copy.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import torch

from modelport.errors import SpecError
from modelport.train.flat import FlatModel
from modelport.train.messages import GradMeta, GradTask
from modelport.train.plane import serve_worker
from modelport.train.sampling import Sharding
from modelport.train.spec import Spec, SpecSource


def collate(items: list[Any], where: str) -> tuple[Any, Any]:
    """Stack (input, target) items into one input batch and one target batch.

    Raises:
        SpecError: the items are not (input, target) pairs torch can stack.
    """
    from torch.utils.data import default_collate

    if items and not (isinstance(items[0], (tuple, list)) and len(items[0]) == 2):
        raise SpecError(f"dataset() in {where} must yield (input, target) pairs, got "
                        f"{type(items[0]).__name__}")
    try:
        inputs, targets = default_collate(items)
    except (TypeError, RuntimeError) as exc:
        raise SpecError(f"dataset() items in {where} cannot be batched: {exc}") from None
    return inputs, targets


def take(batch: Any, positions: np.ndarray) -> Any:
    """Rows ``positions`` of a batch (a tensor, or a tuple/list/dict of tensors)."""
    if isinstance(batch, torch.Tensor):
        return batch[torch.from_numpy(positions)]
    if isinstance(batch, dict):
        return {k: take(v, positions) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(take(v, positions) for v in batch)
    raise SpecError(f"cannot index a batch of type {type(batch).__name__}")


class GradientWorker:
    """One worker: the spec's model and loss, and the items of its shard stacked in memory."""

    def __init__(self, source: SpecSource, seed: int, batch: int, threads: int,
                 shard: int, shards: int) -> None:
        torch.set_num_threads(threads)
        self.spec = Spec(source)
        self.data = self.spec.dataset()
        self.seed = seed
        self.batch = batch
        torch.manual_seed(seed)
        self.model = FlatModel(self.spec.model())
        self.model.module.train()
        self.pid = os.getpid()
        self._key: tuple[int, int] | None = None
        self._load_shard(shard, shards)

    def _load_shard(self, shard: int, shards: int) -> None:
        if self._key == (shard, shards):
            return
        self.sharding = Sharding(len(self.data), shards, self.batch)
        self.sharding.check()
        items = [self.data[int(i)] for i in self.sharding.shard_items(shard)]
        self.inputs, self.targets = collate(items, self.spec.source.path)
        self._key = (shard, shards)

    def compute(self, task: GradTask, state: Any) -> tuple[GradMeta, np.ndarray]:
        """The gradient of the spec's loss on the task's batch at the published ``state``."""
        started = time.perf_counter()
        self._load_shard(task.shard, task.shards)
        positions = self.sharding.batch_positions(task.shard, task.step, self.seed)
        self.model.load(state)
        self.model.zero_grad()
        output = self.model.module(take(self.inputs, positions))
        loss = self.spec.loss(output, take(self.targets, positions))
        loss.backward()
        meta = GradMeta(step=task.step, shard=task.shard, loss=float(loss.detach()),
                        samples=len(positions), pid=self.pid,
                        seconds=time.perf_counter() - started)
        return meta, self.model.gradient()

    def join_plane(self, address: tuple[str, int], token: bytes, shard: int,
                   timeout: float) -> int:
        """Answer steps over the aggregator's data plane until it ends the session.

        Returns the number of gradients sent.
        """
        return serve_worker(self.compute, address, token, shard, timeout,
                            weights=self.model.vector.numpy())

    def process_id(self) -> int:
        """The worker's OS process id (tests kill it through this)."""
        return self.pid
