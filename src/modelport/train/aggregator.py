"""The aggregator (parameter server): merges gradients, steps the optimizer, publishes weights.

Every gradient arrives with a key (data step, worker shard). Retries and re-dispatches deliver
at least once, so a key already applied is counted and skipped: no gradient is applied twice.
The aggregator checkpoints every ``every`` versions; when Ray restarts it after a crash (or on
``--resume``) it reloads the newest checkpoint, and an ``apply`` for a version it no longer has
answers ``rewound`` so the dispatcher replays from the checkpoint.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from modelport.errors import TrainError
from modelport.train.checkpoint import CheckpointStore
from modelport.train.flat import FlatModel
from modelport.train.messages import ApplyStatus
from modelport.train.plane import PlaneReport, PlaneServer, run_session
from modelport.train.spec import Spec, SpecSource

Key = tuple[int, int]


class Aggregator:
    """Holds the model's state vector and optimizer; one optimizer step per ``apply``."""

    def __init__(self, source: SpecSource, seed: int, checkpoint_dir: str, every: int,
                 staleness: int, restore: bool) -> None:
        torch.set_num_threads(1)
        spec = Spec(source)
        torch.manual_seed(seed)
        self.model = FlatModel(spec.model())
        self.optimizer = spec.optimizer(self.model.module.parameters())
        self.store = CheckpointStore(Path(checkpoint_dir))
        self.every = every
        self.staleness = staleness
        self.version = 0
        self.clocks: dict[int, int] = {}
        self.applied: set[Key] = set()
        self.duplicates = 0
        self.restored_from: int | None = None
        if restore:
            self._restore()

    def _restore(self) -> None:
        payload = self.store.load_latest()
        if payload is None:
            return
        state = payload["state"]
        if state.numel() != self.model.size:
            raise TrainError(f"the checkpoints in {self.store.folder} hold {state.numel()} "
                             f"values but the spec's model has {self.model.size}: they belong "
                             "to another model; use another --checkpoint-dir")
        self.model.vector.copy_(state)
        self.optimizer.load_state_dict(payload["optimizer"])
        self.version = int(payload["version"])
        self.clocks = {int(k): int(v) for k, v in payload["clocks"].items()}
        self.applied = {(int(a), int(b)) for a, b in payload["applied"]}
        self.restored_from = self.version

    def _checkpoint(self) -> None:
        self.store.save(self.version, {
            "state": self.model.vector.clone(),
            "optimizer": self.optimizer.state_dict(),
            "version": self.version,
            "clocks": dict(self.clocks),
            "applied": sorted(self.applied),
        })

    def status(self, rewound: bool = False, applied: int = 0) -> ApplyStatus:
        """The current version, clocks and counters."""
        return ApplyStatus(version=self.version, clocks=dict(self.clocks), rewound=rewound,
                           applied=applied, duplicates=self.duplicates,
                           restored_from=self.restored_from, pid=os.getpid())

    def current(self) -> tuple[ApplyStatus, np.ndarray]:
        """The status and the published state vector."""
        return self.status(), self.model.vector.numpy()

    def apply(self, version: int, keys: list[Key], divisor: int,
              *gradients: Any) -> tuple[ApplyStatus, np.ndarray]:
        """Merge ``gradients`` (one per key) into one optimizer step on top of ``version``.

        The parameter part is summed over the fresh keys and divided by ``divisor``; the buffer
        part is averaged. Returns the status and the new state vector to publish.
        """
        if version != self.version:
            return self.status(rewound=True), self.model.state()
        fresh = [(k, g) for k, g in zip(keys, gradients, strict=True) if k not in self.applied]
        self.duplicates += len(keys) - len(fresh)
        if not fresh:
            return self.status(), self.model.state()
        self._merge([g for _, g in fresh], divisor)
        self.optimizer.step()
        for step, shard in (k for k, _ in fresh):
            self.applied.add((step, shard))
            self.clocks[shard] = max(self.clocks.get(shard, 0), step + 1)
        self.version += 1
        self._prune()
        if self.version % self.every == 0:
            self._checkpoint()
        return self.status(applied=len(fresh)), self.model.vector.numpy()

    def plane_session(self, host: str, shards: int, last: int, timeout: float,
                      report_every: float) -> Iterator[tuple[tuple[str, int], bytes] | PlaneReport]:
        """Serve steps over the direct data plane (plane.py) up to version ``last``.

        Yields the address and token the workers connect with, then progress reports; the
        last report says why the session ended. Each step goes through ``apply``, so
        checkpoints and de-duplication are the same as with actor calls.
        """
        server = PlaneServer(host, timeout)
        yield server.address, server.token
        server.buffers[0] = self.model.grad_vector.numpy()  # the first gradient lands in place
        yield from run_session(server, shards, lambda: self.version, last,
                               self.model.vector.numpy, self._apply_plane, report_every)

    def _apply_plane(self, step: int, keys: list[Key], divisor: int,
                     gradients: list[np.ndarray]) -> int:
        self.apply(step, keys, divisor, *gradients)
        return self.version

    def _merge(self, gradients: list[np.ndarray], divisor: int) -> None:
        """Sum the gradients into the optimizer's .grad in place, divide; average the buffers.

        In place, without stacking: on a shared host each extra copy of a large gradient
        costs milliseconds per step.
        """
        size = self.model.param_size
        grad = self.model.grad_vector.numpy()[:size]
        if gradients[0].ctypes.data != grad.ctypes.data:  # not received in place
            np.copyto(grad, gradients[0][:size])
        for g in gradients[1:]:
            np.add(grad, g[:size], out=grad)
        if divisor != 1:
            grad /= divisor
        if self.model.size > size:
            buffers = self.model.buffer_vector.numpy()
            np.copyto(buffers, gradients[0][size:])
            for g in gradients[1:]:
                np.add(buffers, g[size:], out=buffers)
            buffers /= len(gradients)

    def _prune(self) -> None:
        floor = min(self.clocks.values(), default=0) - self.staleness - 2
        self.applied = {k for k in self.applied if k[0] >= floor}

    def finish(self) -> ApplyStatus:
        """Write a final checkpoint (so ``--resume`` of a finished run is a no-op)."""
        if self.store.latest_step() != self.version:
            self._checkpoint()
        return self.status()
