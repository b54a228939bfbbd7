"""``--strategy ddp``: the same spec on Ray Train's TorchTrainer (DistributedDataParallel).

Rank ``r`` of ``W`` trains on shard ``r`` of ``W`` with the same sampling as ``ps``, so both
strategies see the same global batches. Gradients are averaged by DDP's all-reduce (gloo on
CPU, NCCL on GPU). Rank 0 reports progress to a small board actor the driver polls, and
checkpoints every ``--checkpoint-every`` steps; Ray Train restarts a failed group from the
newest checkpoint (``FailureConfig``). With ``--workers MIN:MAX`` the group is elastic.
This module and ``cluster.py`` are the only ones that import ray.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import ray

from modelport.errors import TrainError
from modelport.train.cluster import connect
from modelport.train.config import TrainConfig
from modelport.train.dispatcher import Outcome
from modelport.train.messages import StepEvent
from modelport.train.spec import SpecSource

STATE_FILE = "state.pt"


class _BoardState:
    """Where rank 0 posts (step, loss) without waiting; the driver reads it."""

    def __init__(self) -> None:
        self.step, self.loss = 0, float("nan")

    def post(self, step: int, loss: float) -> None:
        self.step, self.loss = step, loss

    def read(self) -> tuple[int, float]:
        return self.step, self.loss


_Board: Any = ray.remote(num_cpus=0)(_BoardState)


def _loop(config: dict[str, Any]) -> None:
    """One rank's training loop (runs inside Ray Train's worker processes)."""
    import ray.train
    import ray.train.torch
    import torch

    from modelport.train.flat import FlatModel
    from modelport.train.sampling import Sharding
    from modelport.train.spec import Spec
    from modelport.train.worker import collate, take

    torch.set_num_threads(config["threads"])
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    spec = Spec(config["source"])
    data = spec.dataset()
    sharding = Sharding(len(data), world, config["batch"])
    inputs, targets = collate([data[int(i)] for i in sharding.shard_items(rank)],
                              spec.source.path)
    torch.manual_seed(config["seed"])
    module = spec.model()
    optimizer = spec.optimizer(module.parameters())
    step = 0
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            saved = torch.load(Path(folder) / STATE_FILE, weights_only=True)
        module.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        step = int(saved["step"])
    model = ray.train.torch.prepare_model(module)
    model.train()
    board, every, total = config["board"], config["every"], config["total"]
    while step < total:
        positions = sharding.batch_positions(rank, step, config["seed"])
        optimizer.zero_grad()
        loss = spec.loss(model(take(inputs, positions)), take(targets, positions))
        loss.backward()
        optimizer.step()
        step += 1
        if rank == 0:
            board.post.remote(step, float(loss.detach()))
        if step % every == 0 or step == total:
            _report(step, module, optimizer, rank, FlatModel if step == total else None)


def _report(step: int, module: Any, optimizer: Any, rank: int, flat: Any) -> None:
    import ray.train
    import torch

    with tempfile.TemporaryDirectory() as folder:
        checkpoint = None
        if rank == 0:
            saved = {"model": module.state_dict(), "optimizer": optimizer.state_dict(),
                     "step": step}
            if flat is not None:
                saved["state"] = torch.from_numpy(flat(_copy(module)).state())
            torch.save(saved, Path(folder) / STATE_FILE)
            checkpoint = ray.train.Checkpoint.from_directory(folder)
        ray.train.report({"step": step}, checkpoint=checkpoint)


def _copy(module: Any) -> Any:
    import copy

    return copy.deepcopy(module)


def run_ddp(config: TrainConfig, prepared: Any, folder: Path,
            on_step: Callable[[StepEvent], None], note: Callable[[str], None]) -> Outcome:
    """Train with TorchTrainer and return the final state in the ``ps`` layout.

    Raises:
        TrainError: Ray Train gave up (more failures than it may restart from).
    """
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    cpus = max(float(os.cpu_count() or 1), config.workers.max * config.cpus_per_worker)
    with connect(config.address, cpus) as cluster:
        note(f"Ray Train TorchTrainer (gloo): {config.workers} workers, "
             f"{prepared.total_steps} steps of {prepared.batch} samples per worker")
        board = _Board.remote()
        workers = config.workers
        count: Any = workers.max if not workers.elastic else (workers.min, workers.max)
        scaling = ScalingConfig(
            num_workers=count,
            use_gpu=False, resources_per_worker={"CPU": config.cpus_per_worker})
        run = RunConfig(name="modelport", storage_path=str(folder.resolve() / "ray-train"),
                        failure_config=FailureConfig(max_failures=3),
                        checkpoint_config=CheckpointConfig(num_to_keep=2))
        loop_config = {"source": _source(prepared.spec.source), "batch": prepared.batch,
                       "seed": config.seed, "total": prepared.total_steps,
                       "every": config.checkpoint_every, "board": board,
                       "threads": max(1, int(config.cpus_per_worker))}
        trainer = TorchTrainer(_loop, train_loop_config=loop_config, scaling_config=scaling,
                               run_config=run)
        started = time.monotonic()
        result = _fit_watching(trainer, board, prepared.total_steps, workers.max, on_step,
                               cluster.get)
        seconds = time.monotonic() - started
        _, loss = cluster.get(board.read.remote())
    state = _final_state(result)
    return Outcome(state=state, steps=prepared.total_steps, start_step=0, loss=loss,
                   seconds=seconds, workers_final=workers.max)


def _source(source: SpecSource) -> SpecSource:
    return SpecSource(source.path, source.text)


def _fit_watching(trainer: Any, board: Any, total: int, workers: int,
                  on_step: Callable[[StepEvent], None], get: Callable[[Any], Any]) -> Any:
    outcome: dict[str, Any] = {}

    def fit() -> None:
        try:
            outcome["result"] = trainer.fit()
        except Exception as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=fit, name="modelport-ddp", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.25)
        step, loss = get(board.read.remote())
        on_step(StepEvent(step=step, total=total, loss=loss, alive=workers, workers=workers,
                          restarts=0))
    if "error" in outcome:
        raise TrainError(f"Ray Train failed: {str(outcome['error']).splitlines()[0]}") from None
    return outcome["result"]


def _final_state(result: Any) -> np.ndarray:
    import torch

    if result.checkpoint is None:
        raise TrainError("Ray Train finished without a checkpoint of the final model")
    with result.checkpoint.as_directory() as folder:
        saved = torch.load(Path(folder) / STATE_FILE, weights_only=True)
    state: np.ndarray = saved["state"].numpy()
    return state
