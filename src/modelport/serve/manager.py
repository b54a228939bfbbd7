"""Model manager: which versions of which models are live, and how they change.

A (re)load plans (``planning.plan_load``), builds the versions the plan names next to the live
ones and warms them up, then swaps the model's routing table in one assignment; requests already
holding an old version finish on it while it drains in the background. A version that fails to
load leaves what was serving untouched. The manager's state is private: the rest of the server
asks it questions (``get``, ``live``, ``index``, ``all_ready``) and gives it commands (``load``,
``unload``, ``shutdown``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelport.backends import BUILTINS, BackendCatalog
from modelport.errors import (
    InferenceError,
    InvalidInput,
    ModelLoadError,
    ModelLoading,
    ModelNotFound,
    ModelportError,
    ModelUnavailable,
    PlanFailed,
)
from modelport.repository import pbtxt
from modelport.repository.layout import Repository, check_model_name, write_model_files
from modelport.repository.resolve import select
from modelport.runtime import RuntimeSettings
from modelport.serve.histogram import LOAD_BUCKETS, Histogram
from modelport.serve.memory import trim_heap
from modelport.serve.model import ModelVersion
from modelport.serve.planning import LiveIdentity, LoadPlan, plan_load
from modelport.serve.views import IndexRow

log = logging.getLogger("modelport.serve")

# The ensembles whose loading led to the load in progress (to refuse dependency cycles).
_ENSEMBLE_CHAIN: ContextVar[tuple[str, ...]] = ContextVar("modelport_ensemble_chain",
                                                          default=())


@dataclass
class LifecycleStats:
    """Load, reload and unload counts and durations of one model, for /metrics."""

    loads: dict[str, int] = field(default_factory=lambda: {"success": 0, "failure": 0})
    reloads: int = 0
    unloads: int = 0
    load_seconds: Histogram = field(default_factory=lambda: Histogram(LOAD_BUCKETS))


@dataclass(frozen=True)
class FailureReport:
    """How a failed load is logged: at which level, with what note after the reason."""

    level: int = logging.ERROR
    note: str = ""


REPORT_ERROR = FailureReport()


@dataclass
class _ModelState:
    """One model: its routing table (live versions) and what the index says of it."""

    live: dict[int, ModelVersion] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)  # version -> reason
    reason: str = ""  # model-level failure, e.g. a bad config
    unloaded: bool = False
    lifecycle: LifecycleStats = field(default_factory=LifecycleStats)


class ModelManager:
    """Owns every loaded model version; all methods run on the server's event loop."""

    def __init__(self, repository: Repository, settings: RuntimeSettings,
                 backends: BackendCatalog = BUILTINS, drain_timeout_s: float = 30.0,
                 histograms: bool = True, fall_back: bool = False) -> None:
        self.repository = repository
        # when the newest versions fail and nothing serves the model, serve the newest ones
        # that load (the repository is the source of truth: poll and none control modes)
        self.fall_back = fall_back
        self.settings = settings
        self.backends = backends
        self.drain_timeout_s = drain_timeout_s
        self.histograms = histograms
        self._models: dict[str, _ModelState] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._loading: set[asyncio.Task[None]] = set()
        self._draining: set[asyncio.Task[None]] = set()

    # --- questions ------------------------------------------------------------------------------

    def get(self, name: str, version: str = "") -> ModelVersion:
        """The live version to serve ``name`` (the highest when ``version`` is empty).

        Raises:
            ModelNotFound: no such model or version (Triton's words).
            ModelUnavailable: the model (version) is known but failed to load or was unloaded;
                the message says which and why.
            ModelLoading: the model is loading for the first time.
        """
        state = self._models.get(name)
        if state is None:
            raise ModelNotFound(f"Request for unknown model: '{name}' is not found"
                                f"{self._not_loaded_hint(name)}")
        if not state.live:
            raise _no_versions(name, state)
        if not version:
            return state.live[max(state.live)]
        number = version_number(version)
        live = state.live.get(number)
        if live is not None:
            return live
        if number in state.failed:
            raise ModelUnavailable(
                f"Request for model '{name}' version {version} is not at ready state: it "
                f"failed to load: {state.failed[number]}")
        raise ModelNotFound(f"Request for unknown model: '{name}' version {version} is not found")

    def _member(self, name: str, version: int) -> ModelVersion:
        """An ensemble step's model: the version it names, or the newest when -1."""
        return self.get(name, str(version) if version >= 0 else "")

    def _not_loaded_hint(self, name: str) -> str:
        try:
            self.repository.source(name)
        except ModelportError:
            return ""
        return (f"; it is in the repository but not loaded (load it with POST "
                f"/v2/repository/models/{name}/load)")

    def versions(self, name: str) -> list[int]:
        """Live versions of a model, ascending."""
        state = self._models.get(name)
        return sorted(state.live) if state else []

    def live(self, name: str = "") -> Iterator[ModelVersion]:
        """Every live version (of ``name``, or of all models), by name then version."""
        names = [name] if name else sorted(self._models)
        for model in names:
            state = self._models.get(model)
            if state is not None:
                yield from (state.live[v] for v in sorted(state.live))

    def lifecycle(self) -> Iterator[tuple[str, LifecycleStats]]:
        """Load, reload and unload counters of every model the server has seen, by name."""
        for name in sorted(self._models):
            yield name, self._models[name].lifecycle

    def all_ready(self) -> bool:
        """Whether every model the server was asked to load (and not to unload) has a live
        version: strict readiness. A model reloading, or one whose new version failed while an
        older one keeps serving, still counts as ready."""
        return not self.unready_models()

    def unready_models(self) -> list[str]:
        """Models asked to load (and not unloaded) that have no live version, sorted."""
        return sorted(n for n, s in self._models.items() if not s.unloaded and (
            not s.live or s.live[max(s.live)].unavailable() is not None))

    def index(self, ready_only: bool = False) -> list[IndexRow]:
        """The repository index: every model in the repository and every loaded version."""
        rows: list[IndexRow] = []
        for name in sorted(set(self.repository.model_names()) | set(self._models)):
            state = self._models.get(name)
            if state is None:
                rows += [] if ready_only else [IndexRow(name)]
                continue
            for version in sorted(set(state.live) | set(state.failed)):
                blocked = version in state.live and state.live[version].unavailable()
                if version in state.live and not blocked:
                    rows.append(IndexRow(name, str(version), "READY"))
                elif blocked and not ready_only:
                    rows.append(IndexRow(name, str(version), "UNAVAILABLE", blocked))
                elif not ready_only:
                    rows.append(IndexRow(name, str(version), "UNAVAILABLE",
                                         state.failed[version]))
            if (state.reason or not (state.live or state.failed)) and not ready_only:
                rows.append(IndexRow(name, "", "UNAVAILABLE", state.reason or "unloaded"))
        return rows

    # --- commands -------------------------------------------------------------------------------

    async def load(self, name: str, config_override: Any = None,
                   files: dict[str, bytes] | None = None,
                   failure: FailureReport = REPORT_ERROR) -> None:
        """Load or reload ``name`` from the repository without interrupting service.

        ``failure`` says how a failed version is logged (the poller first suspects a copy in
        progress); the index and metrics record it either way.

        Raises:
            ModelNotFound: the repository has no such model.
            ModelLoadError: something of the model failed to load (the reason is also kept for
                the repository index); versions that were serving keep serving.
        """
        check_model_name(name)
        await self._load_members(name, config_override, failure)
        # A caller that gives up (a gRPC deadline, a stopping poller) must not abandon versions
        # half-way between built and swapped in: the load finishes on its own task.
        task = asyncio.get_running_loop().create_task(
            self._load_serialized(name, config_override, files, failure))
        self._loading.add(task)
        task.add_done_callback(self._loading.discard)
        await asyncio.shield(task)

    async def _load_members(self, name: str, override: Any, failure: FailureReport) -> None:
        """Load the models an ensemble's steps name that have no live version (Triton loads
        an ensemble's composing models with it). Runs before the ensemble's lock is taken, so
        concurrent loads of ensembles that share members cannot deadlock.

        Raises:
            ModelLoadError: the ensemble depends on itself through its steps.
        """
        members = self._step_models(name, override)
        chain = (*_ENSEMBLE_CHAIN.get(), name)
        if not members:
            return
        cycle = next((m for m in members if m in chain), None)
        if cycle is not None:
            path = " -> ".join((*chain[chain.index(cycle):], cycle))
            reason = f"circular dependency between ensembles: {path}"
            state = self._models.setdefault(name, _ModelState())
            state.reason = reason
            state.lifecycle.loads["failure"] += 1
            log.log(failure.level, "model '%s' cannot load: %s", name, reason)
            raise ModelLoadError(f"failed to load '{name}': {reason}")
        token = _ENSEMBLE_CHAIN.set(chain)
        try:
            for member in members:
                if not self.versions(member):
                    # Its failure is logged and indexed as its own; the ensemble's plan then
                    # says which member is missing and why.
                    with contextlib.suppress(ModelportError):
                        await self.load(member, failure=failure)
        finally:
            _ENSEMBLE_CHAIN.reset(token)

    def _step_models(self, name: str, override: Any) -> list[str]:
        """The models an ensemble's steps name, in order; empty for any other model."""
        try:
            msg = override if override is not None else self.repository.read_config(
                self.repository.source(name))
        except ModelportError:
            return []  # the plan reports it
        if msg.platform != "ensemble":
            return []
        return list(dict.fromkeys(step.model_name for step in msg.ensemble_scheduling.step))

    async def _load_serialized(self, name: str, config_override: Any,
                               files: dict[str, bytes] | None, failure: FailureReport) -> None:
        async with self._locks.setdefault(name, asyncio.Lock()):
            if not files:
                await self._load_locked(name, config_override, self.repository, failure)
                return
            with tempfile.TemporaryDirectory(prefix="modelport-load-") as tmp:
                write_model_files(Path(tmp), name, files)
                await self._load_locked(name, config_override, Repository(Path(tmp)), failure)

    async def _load_locked(self, name: str, config_override: Any, repository: Repository,
                           failure: FailureReport) -> None:
        try:
            await self._load_versions(name, config_override, repository, failure)
        except ModelLoadError as exc:
            state = self._models.get(name)
            if not (self.fall_back and config_override is None and state is not None
                    and state.failed and not state.live
                    and await self._older_loadable(name, repository, frozenset(state.failed))):
                raise
            try:
                await self._fall_back(name, state, repository, failure)
            except ModelLoadError:
                raise exc from None

    async def _older_loadable(self, name: str, repository: Repository,
                              exclude: frozenset[int]) -> bool:
        try:
            selection = await asyncio.to_thread(select, repository, name, None, self.backends,
                                                exclude)
        except ModelportError:
            return False
        return bool(selection.versions)

    async def _fall_back(self, name: str, state: _ModelState, repository: Repository,
                         failure: FailureReport) -> None:
        """Serve the newest versions that load when the newest ones failed and nothing serves
        the model (a restart that finds a version still being copied); the broken ones stay
        in the index, and the next change to the repository tries them again."""
        broken = dict(state.failed)
        log.warning("model '%s': version(s) %s failed to load and no version serves it: "
                    "loading the newest older version(s) instead", name, sorted(broken))
        try:
            await self._load_versions(name, None, repository, failure, frozenset(broken))
        finally:
            state.failed = {**broken, **state.failed}

    async def _load_versions(self, name: str, config_override: Any, repository: Repository,
                             failure: FailureReport, exclude: frozenset[int] = frozenset(),
                             ) -> None:
        state = self._models.setdefault(name, _ModelState())
        plan = await self._plan(name, state, config_override, repository, failure, exclude)
        if plan.build and plan.ignored:
            log.warning("model '%s': the config sets fields modelport does not act on (they are "
                        "kept and returned, with no effect): %s", name, ", ".join(plan.ignored))
        live, failed = dict(state.live), {}
        for version in plan.build:
            built = await self._build(name, state, plan, version, failure)
            if isinstance(built, str):
                failed[version] = built
            else:
                live[version] = built
        self._swap(name, state, live, failed, plan.stale(live))
        if failed or not state.live:
            reason = "; ".join(f"version {v}: {why}" for v, why in sorted(failed.items()))
            if not failed:
                state.reason = reason = "no version could be loaded"
            raise ModelLoadError(f"failed to load '{name}': {reason}")

    async def _plan(self, name: str, state: _ModelState, override: Any,
                    repository: Repository, failure: FailureReport,
                    exclude: frozenset[int] = frozenset()) -> LoadPlan:
        """Plan off the event loop: completing a config parses the whole ONNX file (~60 ms for
        resnet18), which would stall every request in flight."""
        live = {v: LiveIdentity(mv.fingerprint, mv.config.message) for v, mv in state.live.items()}
        try:
            return await asyncio.to_thread(plan_load, repository, name, override, live,
                                           self.backends, exclude)
        except ModelNotFound:
            if not state.live:
                self._models.pop(name, None)
            raise
        except PlanFailed as exc:
            # A bad file in a new version folder is that version's failure (Triton's index
            # shows it on the version's row); a bad config with nothing new is the model's.
            state.lifecycle.loads["failure"] += 1
            state.failed = dict.fromkeys(exc.versions, str(exc))
            state.reason = "" if exc.versions else str(exc)
            what = (f"version {', '.join(map(str, exc.versions))} failed to load"
                    if exc.versions else "cannot load")
            log.log(failure.level, "model '%s' %s: %s%s", name, what, exc, failure.note)
            raise ModelLoadError(f"failed to load '{name}': {exc}") from None

    async def _build(self, name: str, state: _ModelState, plan: LoadPlan, version: int,
                     failure: FailureReport) -> ModelVersion | str:
        """Build and warm one version; on failure, the reason."""
        started = time.perf_counter()
        path, fingerprint = plan.source.versions[version], plan.fingerprints[version]
        try:
            if plan.config.is_ensemble:
                built = await ModelVersion.ensemble(plan.config, version, path, fingerprint,
                                                    self._member, self.histograms)
            else:
                built = await ModelVersion.load(plan.config, version, path, fingerprint,
                                                self.settings, self.backends, self.histograms)
        except ModelportError as exc:
            state.lifecycle.loads["failure"] += 1
            log.log(failure.level, "model '%s' version %d failed to load: %s%s", name, version,
                    exc, failure.note)
            return str(exc)
        finally:
            state.lifecycle.load_seconds.observe(time.perf_counter() - started)
        log.info("loaded model '%s' version %d in %.2fs", name, version, built.load_seconds)
        state.lifecycle.loads["success"] += 1
        state.lifecycle.reloads += version in state.live
        return built

    def _swap(self, name: str, state: _ModelState, live: dict[int, ModelVersion],
              failed: dict[int, str], stale: list[int]) -> None:
        if failed and stale:
            # A new version that fails must not take the serving one with it.
            log.warning("model '%s': keeping version(s) %s serving because version(s) %s "
                        "failed to load", name, stale, sorted(failed))
        else:
            for version in stale:
                live.pop(version)
        retired = [old for v, old in state.live.items() if live.get(v) is not old]
        # One assignment: requests from now on see only the new table.
        state.live, state.failed, state.reason, state.unloaded = live, failed, "", False
        for old in retired:
            self._retire(old)

    async def unload(self, name: str) -> None:
        """Stop routing to ``name``; its versions drain, then free their memory.

        Raises:
            ModelNotFound: the model is not loaded.
        """
        check_model_name(name)
        async with self._locks.setdefault(name, asyncio.Lock()):
            state = self._models.get(name)
            if state is None or (not state.live and state.unloaded):
                raise ModelNotFound(f"failed to unload '{name}': model is not loaded")
            old = list(state.live.values())
            state.live, state.failed, state.reason, state.unloaded = {}, {}, "unloaded", True
            state.lifecycle.unloads += 1
            for version in old:
                self._retire(version)

    def _retire(self, version: ModelVersion) -> None:
        task = asyncio.get_running_loop().create_task(self._drain(version))
        self._draining.add(task)
        task.add_done_callback(self._draining.discard)

    async def _drain(self, version: ModelVersion) -> None:
        started = time.perf_counter()
        name, number = version.name, version.version
        await version.unload(self.drain_timeout_s)
        del version  # Scheduler.close() broke the worker-task cycles, so this frees it now
        await asyncio.to_thread(trim_heap)
        log.info("unloaded model '%s' version %d after %.2fs drain", name, number,
                 time.perf_counter() - started)

    async def wait_drained(self) -> None:
        """Wait for every retired version to finish draining (tests and shutdown)."""
        while self._draining:
            await asyncio.gather(*list(self._draining), return_exceptions=True)

    async def shutdown(self) -> None:
        """Unload everything, draining in-flight work."""
        await asyncio.gather(*list(self._loading), return_exceptions=True)
        for state in self._models.values():
            for version in state.live.values():
                self._retire(version)
            state.live = {}
        await self.wait_drained()


def version_number(version: str) -> int:
    """A requested version string as a number, as Triton reads it.

    Raises:
        InvalidInput: it is not an integer, or it is negative.
    """
    text = version.strip()
    if not (text.isascii() and text.lstrip("-").isdigit()):
        raise InvalidInput(f"failed to get model version from specified version string "
                           f"'{version}', version should be an integral value > 0")
    if text.startswith("-"):
        raise InvalidInput(f"invalid model version specified '{version}' , version should be "
                           "an integral value > 0")
    return int(text)


def _no_versions(name: str, state: _ModelState) -> InferenceError:
    prefix = f"Request for unknown model: '{name}' has no available versions"
    if state.unloaded:
        return ModelUnavailable(f"{prefix}: it was unloaded")
    if state.failed:
        why = "; ".join(f"version {v}: {r}" for v, r in sorted(state.failed.items()))
        return ModelUnavailable(f"{prefix}: it failed to load ({why})")
    if state.reason:
        return ModelUnavailable(f"{prefix}: it failed to load: {state.reason}")
    return ModelLoading(f"{prefix}: it is loading; retry shortly")


def parse_config_override(raw: str) -> Any:
    """The ``config`` parameter of a load request (Triton's JSON form) as a message."""
    try:
        return pbtxt.parse_json(raw, "load request 'config' parameter")
    except ModelportError as exc:
        raise InvalidInput(str(exc)) from None
