"""modelport train: overhead, scaling, communication cost and recovery, measured in one run.

  1. Overhead: ps with 1 worker vs a plain single-process torch loop, the digits example's CNN
     and data, batch 32, one torch thread each; alternated over rounds. Prints the median of
     the per-round ratios and the ratio of each side's best round (the least disturbed by
     other load, as timeit does).
  2. Scaling: ps steps/s with 1 and 2 workers (each worker one torch thread, batch 32 each).
  3. Communication: per-step time of ps (1 worker) minus the plain loop's, for MLPs of 1M and
     10M parameters (the weights and the gradient cross the data plane every step).

ps runs with its default data plane (a socket per worker); add --data-plane ray to measure
the object-store path instead.
  4. Recovery: a worker SIGKILLed mid-run; seconds until the next step completes.

Run: python benchmarks/train.py  (needs pip install 'modelport[train]')
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "train" / "digits.py"
DATA_PLANE = "socket"

MLP_SPEC = """
import torch
batch_size = 32
def model():
    return torch.nn.Sequential(torch.nn.Linear({width}, {width}), torch.nn.ReLU(),
                               torch.nn.Linear({width}, 10))
def dataset():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(512, {width}, generator=g)
    return torch.utils.data.TensorDataset(x, (x[:, :10]).argmax(1))
def loss(output, target):
    return torch.nn.functional.cross_entropy(output, target)
def optimizer(parameters):
    return torch.optim.SGD(parameters, lr=0.01)
"""


def plain_loop(spec_path: Path, steps: int, batch: int) -> float:
    """Steps/s of one process training the spec the ordinary way (same batches as 1 worker)."""
    import torch

    from modelport.train.sampling import Sharding
    from modelport.train.spec import load_spec
    from modelport.train.worker import collate, take

    torch.set_num_threads(1)
    spec = load_spec(spec_path)
    data = spec.dataset()
    inputs, targets = collate([data[i] for i in range(len(data))], "bench")
    sharding = Sharding(len(data), 1, batch)
    torch.manual_seed(0)
    model = spec.model()
    opt = spec.optimizer(model.parameters())
    started = time.perf_counter()
    for step in range(steps):
        items = sharding.global_batch(step, 0)
        opt.zero_grad()
        spec.loss(model(take(inputs, items)), take(targets, items)).backward()
        opt.step()
    return steps / (time.perf_counter() - started)


def ps_run(cluster: Any, spec_path: Path, workers: int, steps: int, batch: int,
           hook: Any = None) -> Any:
    """One ps job on the connected cluster; returns (outcome, step times)."""
    from modelport.train.config import WorkerRange
    from modelport.train.dispatcher import Dispatcher, Plan
    from modelport.train.spec import SpecSource

    with tempfile.TemporaryDirectory() as folder:
        plan = Plan(source=SpecSource.read(spec_path), total_steps=steps, batch=batch, seed=0,
                    workers=WorkerRange(workers, workers), staleness=0, cpus_per_worker=1.0,
                    checkpoint_dir=folder, checkpoint_every=10_000, resume=False,
                    step_timeout=300, data_plane=DATA_PLANE)
        times: list[tuple[float, int]] = []
        dispatcher = Dispatcher(cluster, plan)

        def on_step(event: Any) -> None:
            if not event.waiting:
                times.append((time.monotonic(), event.step))
            if hook is not None:
                hook(dispatcher, event)

        dispatcher.on_step = on_step
        return dispatcher.run(), times


def overhead(cluster: Any, rounds: int, steps: int) -> None:
    ratios, ps_rates, plain_rates = [], [], []
    for index in range(rounds):  # the two sides take turns; the host's speed drifts
        if index % 2:
            plain_rate = plain_loop(DIGITS, steps, 32)
        outcome, _ = ps_run(cluster, DIGITS, 1, steps, 32)
        ps_rate = steps / outcome.seconds
        if not index % 2:
            plain_rate = plain_loop(DIGITS, steps, 32)
        ps_rates.append(ps_rate)
        plain_rates.append(plain_rate)
        ratios.append(ps_rate / plain_rate)
    best = max(ps_rates) / max(plain_rates)
    print(f"1. overhead (digits CNN, batch 32, {steps} steps x {rounds} rounds): ps 1 worker "
          f"{statistics.median(ps_rates):.1f} steps/s, plain loop "
          f"{statistics.median(plain_rates):.1f} steps/s; median ratio "
          f"{statistics.median(ratios):.2f}, best-of-rounds ratio {best:.2f} (target >= 0.8; "
          f"rounds: {', '.join(f'{r:.2f}' for r in ratios)})")


def scaling(cluster: Any, steps: int) -> None:
    rates = {}
    for workers in (1, 2):
        outcome, _ = ps_run(cluster, DIGITS, workers, steps, 32)
        rates[workers] = steps / outcome.seconds
    print(f"2. scaling (digits CNN, batch 32 per worker): 1 worker {rates[1]:.1f} steps/s "
          f"({rates[1] * 32:.0f} samples/s), 2 workers {rates[2]:.1f} steps/s "
          f"({rates[2] * 64:.0f} samples/s); samples/s ratio {rates[2] * 2 / rates[1]:.2f}")


def communication(cluster: Any, steps: int, folder: Path) -> None:
    for width in (1000, 3160):
        path = folder / f"mlp{width}.py"
        path.write_text(MLP_SPEC.format(width=width))
        params = width * width + width + width * 10 + 10
        outcome, _ = ps_run(cluster, path, 1, steps, 32)
        ps_ms = 1000 * outcome.seconds / steps
        plain_ms = 1000 / plain_loop(path, steps, 32)
        print(f"3. communication, MLP of {params / 1e6:.1f}M parameters ({params * 4 / 2**20:.0f}"
              f" MiB of weights): ps step {ps_ms:.1f} ms, plain step {plain_ms:.1f} ms, "
              f"cost per step {ps_ms - plain_ms:.1f} ms")


def recovery(cluster: Any, steps: int) -> None:
    killed: dict[str, float] = {}

    def hook(dispatcher: Any, event: Any) -> None:
        # >=: over the data plane, progress arrives every 0.1 s, not at every step
        if event.step >= steps // 3 and not event.waiting and "at" not in killed:
            killed["at"], killed["step"] = time.monotonic(), event.step
            os.kill(dispatcher.slots[1].pid, signal.SIGKILL)

    outcome, times = ps_run(cluster, DIGITS, 2, steps, 32, hook)
    after = [t for t, step in times if t > killed["at"] and step > killed["step"]]
    print(f"4. recovery: worker SIGKILLed at step {killed['step']}; next step done "
          f"{after[0] - killed['at']:.2f}s later (restarts seen {outcome.worker_restarts}, "
          f"job finished {outcome.steps}/{steps} steps)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--sections", default="1,2,3,4", help="which of 1-4 to run")
    parser.add_argument("--data-plane", choices=("socket", "ray"), default="socket")
    args = parser.parse_args()
    global DATA_PLANE
    DATA_PLANE = args.data_plane
    from modelport.train.cluster import connect

    with tempfile.TemporaryDirectory(prefix="mpb", dir="/tmp") as tmp:
        os.environ.setdefault("RAY_TMPDIR", tmp)
        chosen = {int(x) for x in args.sections.split(",")}
        with connect(None, 4) as cluster:
            if 1 in chosen:
                overhead(cluster, args.rounds, args.steps)
            if 2 in chosen:
                scaling(cluster, args.steps)
            if 3 in chosen:
                communication(cluster, 40, Path(tmp))
            if 4 in chosen:
                recovery(cluster, args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
