"""The aggregator's checkpoints: weights, optimizer state, step and de-duplication keys.

Files are ``step-00000120.pt`` in the checkpoint folder, written to a temporary name and renamed,
so a reader never sees half a checkpoint; the two newest are kept.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from modelport.errors import ConfigError, TrainError

_NAME = re.compile(r"^step-(\d{8,})\.pt$")
KEEP = 2


class CheckpointStore:
    """A folder of checkpoints."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def steps(self) -> list[int]:
        """Steps that have a complete checkpoint, oldest first."""
        if not self.folder.is_dir():
            return []
        found = (_NAME.match(p.name) for p in self.folder.iterdir())
        return sorted(int(m[1]) for m in found if m)

    def latest_step(self) -> int | None:
        """The newest checkpoint's step, or None."""
        steps = self.steps()
        return steps[-1] if steps else None

    def path(self, step: int) -> Path:
        """Where the checkpoint of ``step`` lives."""
        return self.folder / f"step-{step:08d}.pt"

    def save(self, step: int, payload: dict[str, Any]) -> Path:
        """Write a checkpoint atomically and drop all but the newest ones."""
        import torch

        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.path(step)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        torch.save(payload, tmp)
        os.replace(tmp, target)
        for old in self.steps()[:-KEEP]:
            self.path(old).unlink(missing_ok=True)
        return target

    def load_latest(self) -> dict[str, Any] | None:
        """The newest checkpoint's payload, or None when there is none.

        Raises:
            TrainError: the newest file cannot be read.
        """
        import torch

        step = self.latest_step()
        if step is None:
            return None
        try:
            payload: dict[str, Any] = torch.load(self.path(step), weights_only=True)
        except Exception as exc:
            raise TrainError(f"checkpoint {self.path(step)} cannot be read: {exc}") from None
        return payload

    def check_fresh_start(self, resume: bool) -> None:
        """Refuse to overwrite an earlier run's checkpoints unless resuming.

        Raises:
            ConfigError: checkpoints exist and ``resume`` is False, or the folder is unusable.
        """
        latest = self.latest_step()
        if latest is not None and not resume:
            raise ConfigError(f"checkpoint folder {self.folder} already holds a checkpoint "
                              f"(step {latest}): pass --resume to continue from it, or choose "
                              "an empty folder")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create checkpoint folder {self.folder}: {exc}") from None
        if not os.access(self.folder, os.W_OK):
            raise ConfigError(f"checkpoint folder {self.folder} is not writable")
