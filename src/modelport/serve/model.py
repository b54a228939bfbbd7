"""A loaded model version: its config, runtime instances, scheduler and statistics."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelport.backends import BUILTINS, BackendCatalog
from modelport.errors import ModelLoadError, ModelportError
from modelport.repository.config import ModelConfig
from modelport.runtime import RuntimeSettings, get_backend
from modelport.runtime.base import Backend, Instance
from modelport.serve.ensemble import EnsembleScheduler, Lookup, plan_steps
from modelport.serve.memory import rss_bytes
from modelport.serve.scheduler import Scheduler
from modelport.serve.scheduling import RequestScheduler
from modelport.serve.sequences.scheduler import SequenceScheduler
from modelport.serve.sequences.warmup import sequence_initial_states, sequence_warmup
from modelport.serve.stats import ModelStats
from modelport.serve.validate import Checker
from modelport.serve.warmup import warmup_feeds

log = logging.getLogger("modelport.serve")


@dataclass
class ModelVersion:
    """One servable version. Created by ``load``; freed by ``unload`` after draining."""

    config: ModelConfig
    version: int
    fingerprint: tuple[Any, ...]
    scheduler: RequestScheduler
    stats: ModelStats
    labels: dict[str, list[str]] = field(default_factory=dict)  # output -> class labels
    load_seconds: float = 0.0
    rss_delta_bytes: int = 0
    loaded_at: float = field(default_factory=time.time)
    checker: Checker = field(init=False, repr=False)  # validates requests (validate.py)

    def __post_init__(self) -> None:
        self.checker = Checker(self.config)

    @property
    def name(self) -> str:
        """The model's name."""
        return self.config.name

    @classmethod
    async def load(cls, config: ModelConfig, version: int, path: Path,
                   fingerprint: tuple[Any, ...], settings: RuntimeSettings,
                   backends: BackendCatalog = BUILTINS, histograms: bool = True,
                   ) -> ModelVersion:
        """Create the instances in a worker thread, warm each up, start the scheduler.

        Raises:
            ModelLoadError: a file is missing, the runtime refuses it, or warm-up fails.
        """
        started = time.perf_counter()
        rss_before = rss_bytes()
        labels = await asyncio.to_thread(read_labels, config, path.parent)
        initial = await asyncio.to_thread(sequence_initial_states, config, path.parent)
        instances, warmed = await asyncio.to_thread(_create_instances, config, path, settings,
                                                    backends)
        stats = ModelStats(config.name, str(version), histograms=histograms)
        scheduler: RequestScheduler
        if config.sequence_batching is not None:
            scheduler = SequenceScheduler(config, instances, stats, initial, warmed).start()
        else:
            scheduler = Scheduler(config, instances, stats, proven=warmed,
                                  inline_below_us=settings.inline_below_us).start()
        return cls(config=config, version=version, fingerprint=fingerprint,
                   scheduler=scheduler, stats=stats, labels=labels,
                   load_seconds=time.perf_counter() - started,
                   rss_delta_bytes=rss_bytes() - rss_before)

    @classmethod
    async def ensemble(cls, config: ModelConfig, version: int, path: Path,
                       fingerprint: tuple[Any, ...], lookup: Lookup,
                       histograms: bool = True) -> ModelVersion:
        """An ensemble version: its graph checked against the live members.

        Raises:
            ModelConfigError: the graph does not fit its members (``ensemble.plan_steps``).
            ModelLoadError: a label file cannot be read.
        """
        plan_steps(config, lookup)
        labels = await asyncio.to_thread(read_labels, config, path.parent)
        stats = ModelStats(config.name, str(version), histograms=histograms)
        return cls(config=config, version=version, fingerprint=fingerprint,
                   scheduler=EnsembleScheduler(config, lookup, stats), stats=stats,
                   labels=labels)

    def unavailable(self) -> str | None:
        """None when this version can take requests; for an ensemble with a member not
        ready, why not."""
        if isinstance(self.scheduler, EnsembleScheduler):
            return self.scheduler.unavailable()
        return None

    async def unload(self, drain_timeout_s: float = 30.0) -> None:
        """Let queued and running requests finish, then free the instances."""
        await self.scheduler.close(drain_timeout_s)


def read_labels(config: ModelConfig, model_dir: Path) -> dict[str, list[str]]:
    """Each output's classification labels from its ``label_filename`` (model folder).

    Raises:
        ModelLoadError: a label file is missing or is not a plain name in the model folder.
    """
    labels: dict[str, list[str]] = {}
    for spec in config.outputs:
        file = spec.label_filename
        if not file:
            continue
        if Path(file).name != file or file in (".", ".."):
            raise ModelLoadError(f"model '{config.name}': output '{spec.name}' label_filename "
                                 f"'{file}' must be a file name in the model folder")
        try:
            text = (model_dir / file).read_text(encoding="utf-8", errors="replace")
        except OSError:
            raise ModelLoadError(f"model '{config.name}': {config.name}/{file} (labels of "
                                 f"output '{spec.name}') cannot be read") from None
        labels[spec.name] = text.splitlines()
    return labels


def _create_instances(config: ModelConfig, path: Path, settings: RuntimeSettings,
                      backends: BackendCatalog) -> tuple[list[Instance], bool]:
    """Load and warm up every instance; returns them and whether any warm-up ran."""
    model_file = path / config.default_model_filename
    if backends.reads_onnx(config.backend) and not model_file.is_file():
        raise ModelLoadError(
            f"{config.name}/{path.name}/{config.default_model_filename} is missing")
    backend = get_backend(config.backend, backends)
    instances: list[Instance] = []
    feeds = sequence_warmup(config, path.parent, warmup_feeds(config, path.parent))
    try:
        for index in range(config.instance_count):
            instances.append(_load_one(backend, model_file, config, index, settings))
            _warm_up(instances[-1], config, feeds)
        if config.decoupled and not hasattr(instances[0], "run_requests"):
            raise ModelLoadError(f"model '{config.name}': backend '{config.backend}' cannot serve "
                                 "the decoupled transaction policy (model_transaction_policy "
                                 "{ decoupled: true }); only Python models can")
    except BaseException:
        for inst in instances:
            inst.close()
        raise
    return instances, bool(feeds)


def _load_one(backend: Backend, model_file: Path, config: ModelConfig, index: int,
              settings: RuntimeSettings) -> Instance:
    try:
        return backend.load(model_file, config, index, settings)
    except ModelLoadError:
        raise
    except ModelportError as exc:
        raise ModelLoadError(str(exc)) from None
    except Exception as exc:  # an operator-registered backend's own exception
        raise ModelLoadError(f"backend '{config.backend}' cannot load the model: "
                             f"{type(exc).__name__}: {exc}") from None


def _warm_up(instance: Instance, config: ModelConfig,
             feeds: list[dict[str, np.ndarray]]) -> None:
    outputs = [s.name for s in config.outputs]
    for feed in feeds:
        try:
            instance.run(feed, outputs)
        except ModelportError as exc:
            raise ModelLoadError(f"warm-up failed: {exc}") from None
        except Exception as exc:
            raise ModelLoadError(f"warm-up failed: {type(exc).__name__}: {exc}") from None
