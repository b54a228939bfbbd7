"""Planning a load: which versions of a model to build, which to keep, with which config.

A plan reads the repository (config, version folders, the newest graph) and compares it with
what is live; it builds nothing. The manager then builds what the plan says and swaps. Keeping
the two apart lets the plan be tested without a runtime, and lets a failed plan still say which
versions it was about (the repository index reports a failure on the version it belongs to).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelport.backends import BackendCatalog
from modelport.errors import ModelNotFound, ModelportError, PlanFailed
from modelport.repository.config import ModelConfig
from modelport.repository.layout import ModelSource, Repository
from modelport.repository.resolve import complete, select
from modelport.repository.support import ignored_fields

Fingerprint = tuple[Any, ...]


@dataclass(frozen=True)
class LiveIdentity:
    """What a live version was built from: its files and its complete config."""

    fingerprint: Fingerprint
    message: Any


@dataclass(frozen=True)
class LoadPlan:
    """The result of planning: the config, and each selected version's fate."""

    source: ModelSource
    config: ModelConfig
    selected: tuple[int, ...]
    build: tuple[int, ...]  # new, changed, or forced by a config override
    fingerprints: Mapping[int, Fingerprint]
    ignored: tuple[str, ...] = ()  # config fields set that modelport does not act on

    def stale(self, live: Mapping[int, Any]) -> list[int]:
        """Live versions the plan no longer selects."""
        return [v for v in live if v not in self.selected]


def plan_load(repository: Repository, name: str, override: Any,
              live: Mapping[int, LiveIdentity], backends: BackendCatalog,
              exclude: frozenset[int] = frozenset()) -> LoadPlan:
    """Plan loading ``name`` (with a config ``override``, every selected version is rebuilt),
    leaving out the versions in ``exclude``.

    Raises:
        ModelNotFound: the repository has no such model.
        PlanFailed: the config or a selected version cannot be used; ``versions`` are the new
            versions the failure belongs to (empty when it is the model's, e.g. a bad config).
    """
    try:
        selection = select(repository, name, override, backends, exclude)
    except ModelNotFound:
        raise
    except ModelportError as exc:
        raise PlanFailed(str(exc), []) from None
    new = [v for v in selection.versions if v not in live]
    try:
        resolved = complete(selection, backends)
    except ModelportError as exc:
        raise PlanFailed(str(exc), new) from None
    source = resolved.source
    fingerprints = {v: source.fingerprint(v) for v in resolved.versions}
    build = tuple(v for v in resolved.versions if override is not None
                  or _changed(live.get(v), fingerprints[v], resolved.config.message))
    return LoadPlan(source, resolved.config, tuple(resolved.versions), build, fingerprints,
                    tuple(ignored_fields(resolved.config.message)))


def _changed(current: LiveIdentity | None, fingerprint: Fingerprint, message: Any) -> bool:
    return current is None or current.fingerprint != fingerprint or current.message != message
