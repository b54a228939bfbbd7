"""Helpers of the train tests: a tiny spec, the one-process reference, a ps run on the
connected Ray."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

TINY_SPEC = '''
import torch

batch_size = 8


def model():
    return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))


def dataset():
    g = torch.Generator().manual_seed(123)
    x = torch.randn(256, 6, generator=g)
    y = (x[:, :3] * 2.0).argmax(dim=1)
    return torch.utils.data.TensorDataset(x, y)


def loss(output, target):
    return torch.nn.functional.cross_entropy(output, target)


def optimizer(parameters):
    return torch.optim.SGD(parameters, lr=0.1, momentum=0.9)


def example_input():
    return dataset().tensors[0][:4]


def evaluate(trained):
    x, y = dataset().tensors
    with torch.no_grad():
        return {"accuracy": float((trained(x).argmax(1) == y).float().mean())}
'''


def reference_state(spec_path: Path, workers: int, batch: int, steps: int,
                    seed: int = 0) -> Any:
    """One process, batch workers*batch, the same global batches: the expected state vector."""
    import torch

    from modelport.train.flat import FlatModel
    from modelport.train.sampling import Sharding
    from modelport.train.spec import load_spec
    from modelport.train.worker import collate, take

    spec = load_spec(spec_path)
    data = spec.dataset()
    sharding = Sharding(len(data), workers, batch)
    inputs, targets = collate([data[i] for i in range(len(data))], "test")
    torch.manual_seed(seed)
    flat = FlatModel(spec.model())
    opt = spec.optimizer(flat.module.parameters())
    for step in range(steps):
        items = sharding.global_batch(step, seed)
        opt.zero_grad()
        spec.loss(flat.module(take(inputs, items)), take(targets, items)).backward()
        opt.step()
    return flat.state()


def run_ps(spec_path: Path, tmp: Path, workers: str = "2", steps: int = 20, batch: int = 8,
           staleness: int = 0, every: int = 50, resume: bool = False,
           hook: Callable[[Any, Any], None] | None = None,
           cpus_per_worker: float = 1.0, data_plane: str = "socket") -> Any:
    """Run the ps dispatcher on the Ray this process is connected to; returns its Outcome.

    ``hook(dispatcher, event)`` runs on every step event (tests kill processes from it); the
    data plane reports every step, so that a hook fires at the step it names.
    """
    from modelport.train.cluster import connect
    from modelport.train.config import WorkerRange
    from modelport.train.dispatcher import Dispatcher, Plan
    from modelport.train.spec import SpecSource

    plan = Plan(source=SpecSource.read(spec_path), total_steps=steps, batch=batch, seed=0,
                workers=WorkerRange.parse(workers), staleness=staleness,
                cpus_per_worker=cpus_per_worker, checkpoint_dir=str(tmp), checkpoint_every=every,
                resume=resume, step_timeout=120, data_plane=data_plane, report_every=0.0)
    with connect(None, 4) as cluster:
        dispatcher = Dispatcher(cluster, plan)
        if hook is not None:
            dispatcher.on_step = lambda event: hook(dispatcher, event)
        return dispatcher.run()
