"""The one interface every benchmark runtime implements: load a model, run a batch."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.generic]
PRECISIONS = ("auto", "fp32", "fp16", "bf16")


@dataclass(frozen=True)
class BackendOptions:
    """How to load a model: threads, requested precision and a scratch folder for conversions."""

    threads: int
    precision: str = "auto"
    workdir: Path = field(default_factory=lambda: Path("."))

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise ValueError("threads must be at least 1")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}")


@dataclass(frozen=True)
class BackendInfo:
    """What a loaded backend really runs: reported next to every measurement."""

    runtime: str
    version: str
    device: str
    precision: str
    threads: int
    notes: str = ""


class Backend(abc.ABC):
    """A runtime that executes one ONNX model on numpy inputs.

    Subclasses import their runtime inside ``load`` so that importing the module is cheap.
    """

    name: str = "backend"

    @abc.abstractmethod
    def load(self, model: Path, options: BackendOptions) -> BackendInfo:
        """Load (and convert if needed) the ONNX model at ``model``.

        Raises:
            RuntimeUnavailable: the runtime is missing or cannot run this model here.
        """

    @abc.abstractmethod
    def run(self, inputs: Mapping[str, Array]) -> dict[str, Array]:
        """Run one batch; returns outputs by their ONNX output names."""

    def close(self) -> None:  # noqa: B027 - optional hook, most runtimes need nothing
        """Release the runtime's resources."""

    def late_notes(self) -> str:
        """What the runtime learned while running (e.g. recompilations); empty by default."""
        return ""
