"""``train(config)``: the object users touch. Checks everything it can before Ray starts, runs
the chosen strategy, evaluates, exports and hands the model to a server.

    from modelport.train.config import TrainConfig, WorkerRange
    from modelport.train.job import train
    summary = train(TrainConfig(spec=Path("examples/train/digits.py"), workers=WorkerRange(2, 2)))
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelport.errors import MissingExtra
from modelport.train.config import TrainConfig
from modelport.train.sampling import Sharding
from modelport.train.spec import Spec, load_spec
from modelport.train.summary import TrainSummary

Notes = Callable[[str], None]


def require_extra(strategy: str) -> None:
    """Fail with one line when torch or ray (or what Ray Train imports, for ddp) is missing.

    Raises:
        MissingExtra: a package of ``modelport[train]`` is not installed.
    """
    needed = [("torch", "modelport train"), ("ray", "modelport train"),
              ("onnxscript", "exporting the trained model")]
    if strategy == "ddp":
        needed += [(m, "--strategy ddp (Ray Train)") for m in ("pandas", "pyarrow", "fsspec")]
    for module, purpose in needed:
        try:
            importlib.import_module(module)
        except ImportError:
            raise MissingExtra(module, "train", purpose) from None


@dataclass(frozen=True)
class Prepared:
    """What the driver learned about the job before starting Ray."""

    spec: Spec
    batch: int
    total_steps: int
    length: int


def prepare(config: TrainConfig) -> Prepared:
    """Load the spec and data set once on the driver and size the job.

    Raises:
        SpecError: the spec is incomplete or its data set cannot feed the workers.
    """
    spec = load_spec(config.spec)
    batch = config.batch_size or spec.batch_size
    length = len(spec.dataset())
    sharding = Sharding(length, config.workers.max, batch)
    sharding.check()
    Sharding(length, config.workers.min, batch).check()
    total = config.steps or config.epochs * sharding.steps_per_epoch
    return Prepared(spec=spec, batch=batch, total_steps=total, length=length)


@contextmanager
def checkpoint_folder(config: TrainConfig) -> Iterator[Path]:
    """The checkpoint folder: the configured one, or a temporary one removed afterwards."""
    from modelport.train.checkpoint import CheckpointStore

    if config.checkpoint_dir is not None:
        CheckpointStore(config.checkpoint_dir).check_fresh_start(config.resume)
        yield config.checkpoint_dir
        return
    folder = Path(tempfile.mkdtemp(prefix="modelport-train-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def train(config: TrainConfig, on_step: Callable[[Any], None] = lambda e: None,
          note: Notes = lambda text: None) -> TrainSummary:
    """Run a training job to the end and return its summary.

    Raises:
        MissingExtra: torch or ray is not installed.
        SpecError: the spec or its data set is unusable.
        ConfigError: settings that cannot work together, a checkpoint folder in the way.
        ClusterError: Ray cannot be started or reached, or workers stay lost.
        ExportError: the export or the hand-off to the server failed.
    """
    require_extra(config.strategy)
    prepared = prepare(config)
    exporter = _exporter(config)
    with checkpoint_folder(config) as folder:
        if config.strategy == "ps":
            outcome = _run_ps(config, prepared, folder, on_step, note)
        else:
            from modelport.train.ddp import run_ddp

            outcome = run_ddp(config, prepared, folder, on_step, note)
    model = _final_model(prepared.spec, config.seed, outcome.state)
    summary = TrainSummary(
        strategy=config.strategy, steps=outcome.steps, start_step=outcome.start_step,
        seconds=outcome.seconds, startup_seconds=outcome.startup_seconds,
        steps_per_second=(outcome.steps - outcome.start_step) / max(outcome.seconds, 1e-9),
        final_loss=outcome.loss, metrics=prepared.spec.evaluate(model),
        workers=outcome.workers_final, worker_restarts=outcome.worker_restarts,
        aggregator_restarts=outcome.aggregator_restarts, duplicates=outcome.duplicates,
        max_staleness=outcome.max_staleness)
    if exporter is not None:
        exporter(prepared.spec, model, summary, note)
    return summary


def _run_ps(config: TrainConfig, prepared: Prepared, folder: Path,
            on_step: Callable[[Any], None], note: Notes) -> Any:
    from modelport.train.cluster import connect
    from modelport.train.dispatcher import Dispatcher, Plan

    cpus = max(float(os.cpu_count() or 1), config.workers.max * config.cpus_per_worker)
    plan = Plan(source=prepared.spec.source, total_steps=prepared.total_steps,
                batch=prepared.batch, seed=config.seed, workers=config.workers,
                staleness=config.staleness, cpus_per_worker=config.cpus_per_worker,
                checkpoint_dir=str(folder), checkpoint_every=config.checkpoint_every,
                resume=config.resume, step_timeout=config.step_timeout,
                data_plane=config.data_plane)
    with connect(config.address, cpus) as cluster:
        where = "embedded local Ray" if cluster.info.embedded else f"Ray at {cluster.info.address}"
        note(f"{where}: {cluster.info.nodes} node(s), {cluster.info.cpus:g} CPUs; "
             f"{prepared.total_steps} steps of {prepared.batch} samples per worker")
        return Dispatcher(cluster, plan, on_step).run()


def _final_model(spec: Spec, seed: int, state: Any) -> Any:
    import torch

    from modelport.train.flat import FlatModel

    torch.manual_seed(seed)
    flat = FlatModel(spec.model())
    flat.load(state)
    flat.module.eval()
    return flat.module


def _exporter(config: TrainConfig) -> Any:
    """Check the export target and the server before training; return the export step."""
    if config.export is None:
        return None
    from modelport.train.export import Exporter

    exporter = Exporter(config.export, config.tolerance, config.serve_url, config.serve_token)
    exporter.check()
    return exporter
