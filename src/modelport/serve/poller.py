"""Poll mode: rescan the repository and (re)load what changed, unload what disappeared."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from modelport.errors import ModelportError
from modelport.serve.manager import REPORT_ERROR, FailureReport, ModelManager

log = logging.getLogger("modelport.serve")


def snapshot(manager: ModelManager, name: str) -> Any:
    """Everything about a model on disk whose change should trigger a reload."""
    source = manager.repository.source(name)
    config = source.config_path
    config_stamp = (config.stat().st_size, config.stat().st_mtime_ns) if config.exists() else None
    return (config_stamp, tuple(sorted((v, source.fingerprint(v)) for v in source.versions)))


class RepositoryPoller:
    """Compares the repository with what was seen last and asks the manager to catch up.

    A version folder copied in place file by file can be caught half-written. So a load that
    fails while the model's files are still changing is logged as a warning that says so, and
    is retried at the next poll; a load that fails again once the files have settled is logged
    as an error.
    """

    def __init__(self, manager: ModelManager, interval_s: float) -> None:
        self.manager = manager
        self.interval_s = interval_s
        self.seen: dict[str, Any] = {}
        self.settling: set[str] = set()  # failed while changing: retry even if unchanged

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
            changed = self.seen.get(name) != current
            if changed or name in self.settling:
                self.seen[name] = current
                await self._load(name, changed)
        for name in sorted(set(self.seen) - names):
            self.seen.pop(name)
            self.settling.discard(name)
            if self.manager.versions(name):
                await self.manager.unload(name)

    async def _load(self, name: str, changed: bool) -> None:
        # Files that changed since the last scan may be half-written: a failure is a warning
        # and the model is retried next time; failing again unchanged, it is an error.
        failure = SUSPECT_COPY if changed else REPORT_ERROR
        try:
            await self.manager.load(name, failure=failure)
        except ModelportError:
            if changed:
                self.settling.add(name)
            else:
                self.settling.discard(name)
            return
        self.settling.discard(name)


SUSPECT_COPY = FailureReport(
    logging.WARNING,
    " (if its files are still being copied, this is expected: it is retried at the next poll; "
    "copy a version folder aside and rename it into place to avoid this)")
