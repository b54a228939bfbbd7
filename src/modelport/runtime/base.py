"""The runtime seam: a backend loads one instance of a model; an instance runs a batch.

An instance that wants a batch's requests one by one, unmerged (Triton's Python models take
``execute(requests)``), also offers ``run_requests``; the scheduler then hands it the requests
as they came, each with its parameters and, for a decoupled model, a sink for its responses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from modelport.repository.config import ModelConfig


@dataclass(frozen=True)
class RuntimeSettings:
    """Server-wide knobs a backend applies to every instance it creates."""

    intra_op_threads: int = 0  # 0: cores divided by the model's instance count
    # Whether ONNX Runtime's pool threads may busy-wait for work between parallel sections
    # (its default). False gives each CPU session its own pool that sleeps instead
    # (runtime/ortthreads.py); a model's config can say otherwise.
    intra_op_spinning: bool = True
    cache_dir: Path | None = None  # where optimized models are cached; None disables
    # One process-wide ONNX Runtime pool, with new sessions built at background priority.
    # Only for a process the server owns: afterwards every ONNX Runtime session in the
    # process must use the shared pool, which would break a host application's own sessions.
    shared_thread_pool: bool = False
    # Batches whose recent execution took less than this run on the event loop itself, where
    # a thread hand-off would cost more than the model (0 turns it off).
    inline_below_us: int = 150
    # How a model calls other models of the server (Triton's BLS); None: it cannot.
    models: ModelCaller | None = None


class Instance(Protocol):
    """One loaded copy of a model. ``run`` is called from one thread at a time.

    BYTES tensors are numpy object arrays: inputs hold ``str`` (text, decoded once by the
    server; ``bytes`` as they came for backends in ``backends.RAW_BYTES``), outputs may hold
    ``str`` or ``bytes``.
    """

    def run(
        self, inputs: Mapping[str, np.ndarray], outputs: Sequence[str]
    ) -> list[np.ndarray]:
        """Execute one batch and return the requested outputs in order."""
        ...

    def close(self) -> None:
        """Release the instance's memory; it is not used again."""
        ...


class Backend(Protocol):
    """Creates instances of models it can execute."""

    def load(
        self, path: Path, config: ModelConfig, index: int, settings: RuntimeSettings
    ) -> Instance:
        """Load instance number ``index`` of the model file at ``path``."""
        ...


class ResponseSink(Protocol):
    """Where a decoupled model's responses to one request go; ``send`` is thread-safe."""

    def send(self, outputs: Mapping[str, np.ndarray] | Exception, final: bool) -> None:
        """One response (the outputs it holds, or its error); ``final``: the last one."""
        ...


@dataclass(frozen=True)
class Request:
    """One request as ``run_requests`` takes it."""

    inputs: Mapping[str, np.ndarray]
    outputs: Sequence[str]
    request_id: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)
    sink: ResponseSink | None = None  # set for decoupled models: answers go through it


# What run_requests gives back per request: its outputs (in the order asked), or its error.
# A decoupled model's request gives [] and answers through its sink.
Outcome = list[np.ndarray] | Exception


class RequestsInstance(Instance, Protocol):
    """An instance that takes a batch's requests separately (see the module docstring)."""

    def run_requests(self, requests: Sequence[Request]) -> list[Outcome]:
        """Execute the requests together; one outcome per request, in order."""
        ...


@dataclass(frozen=True)
class LocalRequest:
    """A request a model sends to another model of the server (BLS)."""

    model: str
    version: str
    inputs: Mapping[str, np.ndarray]
    outputs: Sequence[str]
    request_id: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)
    decoupled: bool = False  # the caller takes any number of responses


# Receives the responses of a LocalRequest: outputs by name or an error, and whether it is the
# last. Called on the server's event loop.
Respond = Callable[[Mapping[str, np.ndarray] | Exception, bool], None]


class ModelCaller(Protocol):
    """Runs requests on the server's models from any thread (the server provides it)."""

    def call(self, request: LocalRequest, respond: Respond) -> None:
        """Start ``request``; its responses go to ``respond``."""
        ...
