"""Poll mode: rescan the repository and (re)load what changed, unload what disappeared."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from modelport.errors import ModelportError
from modelport.serve.manager import ModelManager

log = logging.getLogger("modelport.serve")


def snapshot(manager: ModelManager, name: str) -> Any:
    """Everything about a model on disk whose change should trigger a reload."""
    source = manager.repository.source(name)
    config = source.config_path
    config_stamp = (config.stat().st_size, config.stat().st_mtime_ns) if config.exists() else None
    return (config_stamp, tuple(sorted((v, source.fingerprint(v)) for v in source.versions)))


class RepositoryPoller:
    """Compares the repository with what was seen last and asks the manager to catch up."""

    def __init__(self, manager: ModelManager, interval_s: float) -> None:
        self.manager = manager
        self.interval_s = interval_s
        self.seen: dict[str, Any] = {}

    def remember(self) -> None:
        """Record the current state as seen (after the initial load)."""
        for name in self.manager.repository.model_names():
            try:
                self.seen[name] = snapshot(self.manager, name)
            except (ModelportError, OSError):
                continue

    async def run(self) -> None:
        """Poll forever."""
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.poll_once()
            except Exception:  # a bad scan must not stop polling
                log.exception("repository poll failed")

    async def poll_once(self) -> None:
        """One scan: load new or changed models, unload removed ones."""
        names = set(self.manager.repository.model_names())
        for name in sorted(names):
            try:
                current = snapshot(self.manager, name)
            except (ModelportError, OSError):
                continue  # the folder changed under us; next poll sees it settled
            if self.seen.get(name) == current:
                continue
            self.seen[name] = current
            try:
                await self.manager.load(name)
            except ModelportError as exc:
                log.debug("poll: %s", exc)  # the manager already logged why
        for name in sorted(set(self.seen) - names):
            self.seen.pop(name)
            if self.manager.versions(name):
                await self.manager.unload(name)
