"""StubSpec: what a Python-model instance needs to start (and restart) its stub process."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelport.runtime.base import ModelCaller
from modelport.runtime.python import wire

EXECUTE_TIMEOUT_S = 300.0
INITIALIZE_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class StubSpec:
    """What an instance needs to start (and restart) its stub."""

    name: str
    version: int
    index: int
    model_file: Path
    config_json: str
    decoupled: bool
    site_dirs: list[str] = field(default_factory=list)
    execute_timeout_s: float = EXECUTE_TIMEOUT_S
    initialize_timeout_s: float = INITIALIZE_TIMEOUT_S
    kind: str = "CPU"
    models: ModelCaller | None = None  # where BLS requests go

    @property
    def label(self) -> str:
        """The instance as logs name it (Triton's instance name)."""
        return f"{self.name}_0_{self.index}"

    def setup(self) -> dict[str, Any]:
        """The ``init`` call's payload: where model.py is, and ``initialize``'s args."""
        model_dir = self.model_file.parent.parent
        return {"name": self.name, "version": self.version, "model_file": str(self.model_file),
                "config": self.config_json, "decoupled": self.decoupled,
                "inline_max": wire.INLINE_MAX,
                "args": {"model_config": self.config_json, "model_instance_kind": self.kind,
                         "model_instance_name": self.label, "model_instance_device_id": "0",
                         "model_repository": str(model_dir), "model_version": str(self.version),
                         "model_name": self.name}}
