"""Ray Core behind a small facade: the one module of modelport that imports ``ray``.

It starts an embedded local Ray (loopback only) or joins a cluster by address, creates the
worker and aggregator actors with Ray's fault-tolerance options, and turns Ray's exceptions
into modelport's. Workers restart forever (``max_restarts=-1``) and their tasks are retried
(``max_task_retries=-1``); the aggregator is pinned to the driver's node because its
checkpoints are files there.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from modelport.errors import ClusterError, ModelportError, TrainError
from modelport.train.aggregator import Aggregator
from modelport.train.plane import PlaneBroken, PlaneReport
from modelport.train.spec import SpecSource
from modelport.train.worker import GradientWorker


@dataclass(frozen=True)
class ClusterInfo:
    """Where the job runs."""

    address: str
    embedded: bool
    cpus: float
    nodes: int


class RemoteWorker:
    """A handle on one worker actor."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor

    def compute(self, task: Any, state_ref: Any) -> tuple[Any, Any]:
        """Submit a gradient task; returns (meta ref, gradient ref) without waiting."""
        meta, grad = self.actor.compute.options(num_returns=2).remote(task, state_ref)
        return meta, grad

    def join_plane(self, address: tuple[str, int], token: bytes, shard: int,
                   timeout: float) -> Any:
        """Start answering the aggregator's data plane; a ref to the gradients sent.

        Not retried: a restarted worker rejoins through the next session, not this one.
        """
        return self.actor.join_plane.options(max_task_retries=0).remote(
            address, token, shard, timeout)

    def process_id(self) -> Any:
        """A ref to the worker's process id."""
        return self.actor.process_id.remote()


class RemoteAggregator:
    """A handle on the aggregator actor; every method returns refs at once."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor

    def current(self) -> tuple[Any, Any]:
        """Refs to the status and the published state."""
        status, state = self.actor.current.options(num_returns=2).remote()
        return status, state

    def apply(self, version: int, keys: list[tuple[int, int]], divisor: int,
              gradients: list[Any]) -> tuple[Any, Any]:
        """Refs to the status and the new state after merging ``gradients``."""
        status, state = self.actor.apply.options(num_returns=2).remote(
            version, keys, divisor, *gradients)
        return status, state

    def open_plane(self, shards: int, last: int, timeout: float,
                   report_every: float) -> PlaneSession:
        """Start a data-plane session up to version ``last`` (see plane.py)."""
        # Not retried: after a restart the dispatcher replays through actor calls instead.
        return PlaneSession(self.actor.run_plane.options(
            num_returns="streaming", max_task_retries=0).remote(
            shards, last, timeout, report_every))

    def finish(self) -> Any:
        """A ref to the final status (after a final checkpoint)."""
        return self.actor.finish.remote()


class PlaneSession:
    """The dispatcher's view of a data-plane session: the address, then progress reports."""

    def __init__(self, generator: Any) -> None:
        self.generator = generator

    def address(self) -> tuple[tuple[str, int], bytes]:
        """Where the workers connect, and the token they show.

        Raises:
            PlaneBroken: the aggregator could not open the session.
        """
        value = self._next()
        if not isinstance(value, tuple):
            raise PlaneBroken("the aggregator did not open a session")
        return value

    def report(self, timeout: float) -> PlaneReport | None:
        """The next report, or None when none came within ``timeout`` seconds.

        Raises:
            PlaneBroken: the aggregator died or ended the session without a last report.
        """
        ready, _ = ray.wait([self.generator], timeout=timeout)
        if not ready:
            return None
        value = self._next()
        if not isinstance(value, PlaneReport):
            raise PlaneBroken("the aggregator sent something else than a report")
        return value

    def _next(self) -> Any:
        try:
            return ray.get(next(self.generator))
        except StopIteration:
            raise PlaneBroken("the session ended without a last report") from None
        except (ray.exceptions.RayActorError, ray.exceptions.RayTaskError) as exc:
            raise PlaneBroken(f"the aggregator is gone: {_last_line(str(exc))}") from None


class Cluster:
    """A connected Ray: actors, object refs and waiting, in modelport's terms."""

    def __init__(self, info: ClusterInfo) -> None:
        self.info = info
        self.ray: Any = ray
        self._exceptions = ray.exceptions

    def cpus(self) -> float:
        """CPUs the cluster has now (drops when a node leaves)."""
        resources: dict[str, float] = self.ray.cluster_resources()
        return float(resources.get("CPU", 0.0))

    def new_worker(self, source: SpecSource, seed: int, batch: int, cpus: float,
                   shard: int, shards: int) -> RemoteWorker:
        """Start a worker actor that loads shard ``shard`` of ``shards`` in its constructor."""
        threads = max(1, int(cpus))
        actor = _WorkerActor.options(num_cpus=cpus).remote(
            source, seed, batch, threads, shard, shards)
        return RemoteWorker(actor)

    def new_aggregator(self, source: SpecSource, seed: int, checkpoint_dir: str, every: int,
                       staleness: int, resume: bool) -> RemoteAggregator:
        """Start the aggregator actor on this (the driver's) node."""
        here = self.ray.get_runtime_context().get_node_id()
        return RemoteAggregator(_AggregatorActor.options(
            num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False),
        ).remote(source, seed, checkpoint_dir, every, staleness, resume))

    def put(self, value: Any) -> Any:
        """Store ``value`` once in the object store; returns its ref."""
        return self.ray.put(value)

    def get(self, ref: Any, timeout: float | None = None) -> Any:
        """The value of ``ref``; a failure inside an actor is raised as modelport's error."""
        try:
            return self.ray.get(ref, timeout=timeout)
        except self._exceptions.RayTaskError as exc:
            cause = exc.cause if hasattr(exc, "cause") else None
            if isinstance(cause, ModelportError):
                raise cause from None
            raise TrainError(f"a training task failed: {cause or exc}") from None
        except self._exceptions.RayActorError as exc:
            if not getattr(exc, "actor_init_failed", False):
                raise  # died while running: the caller decides (a restart is on its way)
            raise TrainError(f"a training actor failed to start (it would fail again on "
                             f"restart): {_last_line(str(exc))}") from None

    def wait(self, refs: Sequence[Any], count: int, timeout: float) -> list[Any]:
        """Refs among ``refs`` that are ready, at least ``count`` unless ``timeout`` passes."""
        ready, _ = self.ray.wait(list(refs), num_returns=min(count, len(refs)), timeout=timeout,
                                 fetch_local=False)
        return list(ready)

    def is_lost_actor(self, exc: BaseException) -> bool:
        """Whether ``exc`` says an actor died or cannot be reached for now."""
        kinds = tuple(getattr(self._exceptions, name) for name in
                      ("RayActorError", "ActorUnavailableError", "ActorDiedError")
                      if hasattr(self._exceptions, name))
        return isinstance(exc, kinds)

    def kill(self, actor: Any) -> None:
        """Stop an actor for good (no restart)."""
        self.ray.kill(actor, no_restart=True)


class _RestoringAggregator(Aggregator):
    """The aggregator as Ray runs it: restores its checkpoint when Ray restarts it."""

    def __init__(self, source: SpecSource, seed: int, checkpoint_dir: str, every: int,
                 staleness: int, resume: bool) -> None:
        restarted = bool(ray.get_runtime_context().was_current_actor_reconstructed)
        super().__init__(source, seed, checkpoint_dir, every, staleness, resume or restarted)

    def run_plane(self, shards: int, last: int, timeout: float, report_every: float
                  ) -> Iterator[tuple[tuple[str, int], bytes] | PlaneReport]:
        """A data-plane session listening on this node's address (a streaming generator)."""
        host = str(ray.util.get_node_ip_address())  # type: ignore[no-untyped-call]
        yield from self.plane_session(host, shards, last, timeout, report_every)


_WorkerActor: Any = ray.remote(max_restarts=-1, max_task_retries=-1)(GradientWorker)
_AggregatorActor: Any = ray.remote(max_restarts=-1, max_task_retries=-1)(_RestoringAggregator)


def _last_line(text: str) -> str:
    """The last non-empty line of a remote traceback: the exception and its message."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else text[:300]


def _loopback_env() -> None:
    # Ray advertises the host's address on Linux; this keeps an embedded instance on loopback.
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


@contextmanager
def connect(address: str | None, cpus: float) -> Iterator[Cluster]:
    """Use the Ray this process already has, start an embedded one, or join ``address``.

    Raises:
        ClusterError: no cluster answers at ``address``.
    """
    if ray.is_initialized():
        yield Cluster(_info(ray, embedded=False))
        return
    quiet: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
    try:
        if address is None:
            _loopback_env()
            ray.init(num_cpus=max(1, int(cpus + 0.999)), include_dashboard=False,
                     _node_ip_address="127.0.0.1", **quiet)
        else:
            _check_reachable(address)
            ray.init(address=address, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ClusterError(_no_cluster(address, exc)) from None
    try:
        yield Cluster(_info(ray, embedded=address is None))
    finally:
        ray.shutdown()


def _check_reachable(address: str) -> None:
    """Fail fast on HOST:PORT with nothing listening (Ray itself retries for minutes)."""
    if address == "auto":
        address = _resolve_auto()
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(f"--address expects auto, HOST:PORT or ray://HOST:PORT, got "
                           f"'{address}'")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as exc:
        raise ClusterError(_no_cluster(address, exc)) from None


def _resolve_auto() -> str:
    """What ``auto`` means to Ray (RAY_ADDRESS, the last ``ray start``, a running GCS)."""
    from ray._private.services import canonicalize_bootstrap_address

    try:
        resolved = canonicalize_bootstrap_address("auto")
    except (ConnectionError, ValueError) as exc:
        raise ClusterError(_no_cluster("auto", exc)) from None
    if resolved is None:
        raise ClusterError(_no_cluster("auto", ConnectionError("no running Ray found")))
    return str(resolved)


def _no_cluster(address: str | None, exc: BaseException) -> str:
    if address is None:
        return f"cannot start a local Ray instance: {str(exc).splitlines()[0]}"
    return (f"no Ray cluster answers at '{address}' ({str(exc).splitlines()[0][:160]}): start one "
            "with 'ray start --head', or drop --address to train on an embedded local Ray")


def _info(ray: Any, embedded: bool) -> ClusterInfo:
    context = ray.get_runtime_context()
    address = getattr(context, "gcs_address", "") or ""
    return ClusterInfo(address=address, embedded=embedded,
                       cpus=float(ray.cluster_resources().get("CPU", 0.0)),
                       nodes=sum(1 for n in ray.nodes() if n.get("Alive")))
