"""Model manager: which versions of which models are live, and how they change.

A (re)load builds the new versions next to the live ones, warms them up, then swaps the model's
routing table in one assignment; requests already holding the old version finish on it while
it drains in the background. A version that fails to load leaves what was serving untouched.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelport.errors import (
    InferenceError,
    InvalidInput,
    ModelLoadError,
    ModelLoading,
    ModelNotFound,
    ModelportError,
    ModelUnavailable,
)
from modelport.repository import pbtxt
from modelport.repository.layout import Repository, check_model_name, write_model_files
from modelport.repository.resolve import loadable_versions, resolve
from modelport.runtime import RuntimeSettings
from modelport.serve.histogram import LOAD_BUCKETS, Histogram
from modelport.serve.memory import trim_heap
from modelport.serve.model import ModelVersion

log = logging.getLogger("modelport.serve")


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
class ModelState:
    """What the repository index reports for one model."""

    live: dict[int, ModelVersion] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)  # version -> reason
    reason: str = ""  # model-level failure, e.g. a bad config
    unloaded: bool = False


class ModelManager:
    """Owns every loaded model version; all methods run on the server's event loop."""

    def __init__(self, repository: Repository, settings: RuntimeSettings,
                 drain_timeout_s: float = 30.0, histograms: bool = True) -> None:
        self.repository = repository
        self.histograms = histograms
        self.settings = settings
        self.drain_timeout_s = drain_timeout_s
        self.models: dict[str, ModelState] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._draining: set[asyncio.Task[None]] = set()
        self.lifecycle: dict[str, LifecycleStats] = {}
        self._loading: set[asyncio.Task[None]] = set()

    def get(self, name: str, version: str = "") -> ModelVersion:
        """The live version to serve ``name`` (the highest when ``version`` is empty).

        Raises:
            ModelNotFound: no such model or version (Triton's words).
            ModelUnavailable: the model (version) is known but failed to load or was unloaded;
                the message says which and why.
            ModelLoading: the model is loading for the first time.
        """
        state = self.models.get(name)
        if state is None:
            raise ModelNotFound(f"Request for unknown model: '{name}' is not found"
                                f"{self._not_loaded_hint(name)}")
        if not state.live:
            raise self._no_versions(name, state)
        if not version:
            return state.live[max(state.live)]
        number = int(version) if version.isascii() and version.isdigit() else None
        live = state.live.get(number) if number is not None else None
        if live is not None:
            return live
        if number in state.failed:
            raise ModelUnavailable(
                f"Request for model '{name}' version {version} is not at ready state: it "
                f"failed to load: {state.failed[number]}")
        raise ModelNotFound(f"Request for unknown model: '{name}' version {version} is not found")

    def _no_versions(self, name: str, state: ModelState) -> InferenceError:
        prefix = f"Request for unknown model: '{name}' has no available versions"
        if state.unloaded:
            return ModelUnavailable(f"{prefix}: it was unloaded")
        if state.failed:
            why = "; ".join(f"version {v}: {r}" for v, r in sorted(state.failed.items()))
            return ModelUnavailable(f"{prefix}: it failed to load ({why})")
        if state.reason:
            return ModelUnavailable(f"{prefix}: it failed to load: {state.reason}")
        return ModelLoading(f"{prefix}: it is loading; retry shortly")

    def _not_loaded_hint(self, name: str) -> str:
        try:
            self.repository.source(name)
        except ModelportError:
            return ""
        return (f"; it is in the repository but not loaded (load it with POST "
                f"/v2/repository/models/{name}/load)")

    def all_ready(self) -> bool:
        """Whether every model the server was asked to load (and not to unload) has a live
        version: strict readiness. A model reloading, or one whose new version failed while an
        older one keeps serving, still counts as ready."""
        return not self.unready_models()

    def unready_models(self) -> list[str]:
        """Models asked to load (and not unloaded) that have no live version, sorted."""
        return sorted(n for n, s in self.models.items() if not s.live and not s.unloaded)

    def versions(self, name: str) -> list[int]:
        """Live versions of a model, ascending."""
        state = self.models.get(name)
        return sorted(state.live) if state else []

    async def load(self, name: str, config_override: Any = None,
                   files: dict[str, bytes] | None = None,
                   failure: FailureReport = REPORT_ERROR) -> None:
        """Load or reload ``name`` from the repository without interrupting service.

        ``failure`` says how a failed version is logged (the poller first suspects a copy in
        progress); the index and metrics record it either way.

        Raises:
            ModelNotFound: the repository has no such model.
            ModelLoadError: nothing of the model could be loaded (the reason is also kept
                for the repository index); versions that were serving keep serving.
        """
        check_model_name(name)
        # A caller that gives up (a gRPC deadline, a stopping poller) must not abandon versions
        # half-way between built and swapped in: the load finishes on its own task.
        await asyncio.shield(self._load_task(name, config_override, files, failure))

    def _load_task(self, name: str, config_override: Any,
                   files: dict[str, bytes] | None,
                   failure: FailureReport) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(
            self._load_serialized(name, config_override, files, failure))
        self._loading.add(task)
        task.add_done_callback(self._loading.discard)
        return task

    async def _load_serialized(self, name: str, config_override: Any,
                               files: dict[str, bytes] | None,
                               failure: FailureReport) -> None:
        async with self._locks.setdefault(name, asyncio.Lock()):
            if not files:
                await self._load_locked(name, config_override, self.repository, failure)
                return
            with tempfile.TemporaryDirectory(prefix="modelport-load-") as tmp:
                write_model_files(Path(tmp), name, files)
                await self._load_locked(name, config_override, Repository(Path(tmp)),
                                        failure)

    async def _load_locked(self, name: str, config_override: Any,
                           repository: Repository, failure: FailureReport) -> None:
        state = self.models.setdefault(name, ModelState())
        try:
            # Off the event loop: completing a config parses the whole ONNX file (~60 ms for
            # resnet18), which would stall every request in flight.
            resolved = await asyncio.to_thread(resolve, repository, name, config_override)
        except ModelNotFound:
            if not state.live:
                self.models.pop(name, None)
            raise
        except ModelportError as exc:
            # A bad file in a new version folder is that version's failure (Triton's index
            # shows it on the version's row); a bad config with nothing new is the model's.
            new = _new_versions(repository, name, config_override, state.live)
            self.lifecycle.setdefault(name, LifecycleStats()).loads["failure"] += 1
            state.failed = dict.fromkeys(new, str(exc))
            state.reason = "" if new else str(exc)
            what = f"version {', '.join(map(str, new))} failed to load" if new else "cannot load"
            log.log(failure.level, "model '%s' %s: %s%s", name, what, exc, failure.note)
            raise ModelLoadError(f"failed to load '{name}': {exc}") from None
        live = dict(state.live)
        failed: dict[int, str] = {}
        source, msg, view, selected = (resolved.source, resolved.message, resolved.config,
                                       resolved.versions)
        for version in selected:
            fingerprint = source.fingerprint(version)
            current = live.get(version)
            if (current is not None and config_override is None
                    and current.fingerprint == fingerprint and current.config_msg == msg):
                continue  # same files, same config, no override: keep the live version
            counters = self.lifecycle.setdefault(name, LifecycleStats())
            started = time.perf_counter()
            try:
                live[version] = await ModelVersion.load(
                    view, msg, version, source.versions[version], fingerprint, self.settings,
                    self.histograms)
                log.info("loaded model '%s' version %d in %.2fs", name, version,
                         live[version].load_seconds)
                counters.loads["success"] += 1
                counters.reloads += current is not None
            except ModelportError as exc:
                failed[version] = str(exc)
                counters.loads["failure"] += 1
                log.log(failure.level, "model '%s' version %d failed to load: %s%s", name,
                        version, exc, failure.note)
            counters.load_seconds.observe(time.perf_counter() - started)
        stale = [v for v in live if v not in selected]
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
        if failed or not live:
            # The caller (an explicit load request) must hear about a failed version even
            # when an older one keeps serving.
            reason = "; ".join(f"version {v}: {why}" for v, why in sorted(failed.items()))
            if not failed:
                state.reason = reason = "no version could be loaded"
            raise ModelLoadError(f"failed to load '{name}': {reason}")

    async def unload(self, name: str) -> None:
        """Stop routing to ``name``; its versions drain, then free their memory.

        Raises:
            ModelNotFound: the model is not loaded.
        """
        check_model_name(name)
        async with self._locks.setdefault(name, asyncio.Lock()):
            state = self.models.get(name)
            if state is None or (not state.live and state.unloaded):
                raise ModelNotFound(f"failed to unload '{name}': model is not loaded")
            old = list(state.live.values())
            state.live, state.failed, state.reason, state.unloaded = {}, {}, "unloaded", True
            self.lifecycle.setdefault(name, LifecycleStats()).unloads += 1
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

    def index(self, ready_only: bool = False) -> list[dict[str, str]]:
        """The repository index: every model in the repository and every loaded version."""
        rows: list[dict[str, str]] = []
        names = sorted(set(self.repository.model_names()) | set(self.models))
        for name in names:
            state = self.models.get(name)
            if state is None:
                if not ready_only:
                    rows.append({"name": name})
                continue
            for version in sorted(set(state.live) | set(state.failed)):
                if version in state.live:
                    rows.append({"name": name, "version": str(version), "state": "READY"})
                elif not ready_only:
                    rows.append({"name": name, "version": str(version), "state": "UNAVAILABLE",
                                 "reason": state.failed[version]})
            if (state.reason or not (state.live or state.failed)) and not ready_only:
                rows.append({"name": name, "state": "UNAVAILABLE",
                             "reason": state.reason or "unloaded"})
        return rows

    async def shutdown(self) -> None:
        """Unload everything, draining in-flight work."""
        await asyncio.gather(*list(self._loading), return_exceptions=True)
        for name in list(self.models):
            state = self.models[name]
            for version in state.live.values():
                self._retire(version)
            state.live = {}
        await self.wait_drained()


def _new_versions(repository: Repository, name: str, override: Any,
                  live: dict[int, ModelVersion]) -> list[int]:
    """Versions the policy selects that are not live; [] when even that cannot be read."""
    try:
        source = repository.source(name)
        msg = override if override is not None else repository.read_config(source)
        selected = pbtxt.version_policy(msg).select(loadable_versions(source, msg))
    except (ModelportError, OSError):
        return []
    return [v for v in selected if v not in live]


def parse_config_override(raw: str) -> Any:
    """The ``config`` parameter of a load request (Triton's JSON form) as a message."""
    try:
        return pbtxt.parse_json(raw, "load request 'config' parameter")
    except ModelportError as exc:
        raise InvalidInput(str(exc)) from None
