"""The typed view of a model's configuration that the server works from.

Triton's full ModelConfig (protobuf) stays the source of truth for what the config routes
return; this view holds the fields modelport acts on, validated once at load time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from modelport.repository.sequence import SequenceBatching

DEFAULT_MODEL_FILENAME = "model.onnx"

TimeoutAction = Literal["REJECT", "DELAY"]
PolicyKind = Literal["latest", "all", "specific"]


@dataclass(frozen=True)
class TensorSpec:
    """One input or output: protocol datatype and dims without the batch dimension."""

    name: str
    datatype: str
    dims: tuple[int, ...]
    optional: bool = False
    # Triton's reshape: the shape the model itself takes or gives (without the batch dim),
    # where ``dims`` is what clients send or receive.
    reshape: tuple[int, ...] | None = None
    label_filename: str = ""  # classification labels, one per line (outputs)

    @property
    def model_dims(self) -> tuple[int, ...]:
        """The dims the model's graph has (the reshape when there is one)."""
        return self.reshape if self.reshape is not None else self.dims


@dataclass(frozen=True)
class QueuePolicy:
    """Triton's ModelQueuePolicy: queue bound and per-request timeout in the queue."""

    max_queue_size: int = 0  # 0 means unbounded
    default_timeout_us: int = 0  # 0 means no timeout
    timeout_action: TimeoutAction = "REJECT"
    # True unless a default_queue_policy block leaves allow_timeout_override false (Triton's
    # default): without a block, modelport honours a request's "timeout" parameter.
    allow_timeout_override: bool = True

    def timeout_for(self, requested_us: int) -> int:
        """The queue timeout of a request that asked for ``requested_us`` (0: none).

        As Triton: a request may shorten a default timeout when overriding is allowed, never
        lengthen it; with no default, its own timeout applies (Triton ignores it then).
        """
        if requested_us and self.allow_timeout_override and (
                not self.default_timeout_us or requested_us < self.default_timeout_us):
            return requested_us
        return self.default_timeout_us


@dataclass(frozen=True)
class DynamicBatching:
    """Triton's ModelDynamicBatching fields that shape batches."""

    preferred_batch_size: tuple[int, ...] = ()
    max_queue_delay_us: int = 0
    queue: QueuePolicy = field(default_factory=QueuePolicy)


@dataclass(frozen=True)
class InstanceGroup:
    """How many runtime instances of which kind to create."""

    count: int = 1
    kind: str = "KIND_CPU"


@dataclass(frozen=True)
class VersionPolicy:
    """Which versions found on disk are served."""

    kind: PolicyKind = "latest"
    num_versions: int = 1
    versions: tuple[int, ...] = ()

    def select(self, available: list[int]) -> list[int]:
        """Pick the versions to serve from those on disk, ascending."""
        ordered = sorted(available)
        if self.kind == "all":
            return ordered
        if self.kind == "specific":
            return [v for v in ordered if v in self.versions]
        return ordered[-max(self.num_versions, 1) :]


@dataclass(frozen=True)
class EnsembleStep:
    """One step of an ensemble: which model runs, and how tensors are named across it.

    ``input_map``: the model's input name -> the ensemble tensor it reads;
    ``output_map``: the model's output name -> the ensemble tensor it writes.
    """

    model_name: str
    model_version: int = -1  # -1: the latest live version
    input_map: tuple[tuple[str, str], ...] = ()
    output_map: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ModelConfig:
    """A validated model configuration."""

    name: str
    platform: str = "onnxruntime_onnx"
    backend: str = "onnxruntime"
    max_batch_size: int = 0
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()
    version_policy: VersionPolicy = field(default_factory=VersionPolicy)
    dynamic_batching: DynamicBatching | None = None
    sequence_batching: SequenceBatching | None = None
    instance_groups: tuple[InstanceGroup, ...] = (InstanceGroup(),)
    parameters: dict[str, str] = field(default_factory=dict)
    default_model_filename: str = DEFAULT_MODEL_FILENAME
    warmup: tuple[dict[str, Any], ...] = ()
    # Triton's model_transaction_policy.decoupled: any number of responses per request.
    decoupled: bool = False
    # max_batch_size was not in config.pbtxt: auto-completion chose it from the graph.
    max_batch_size_completed: bool = False
    ensemble_steps: tuple[EnsembleStep, ...] = ()  # platform "ensemble": its steps
    # The complete ModelConfig message this view was made from (what the config routes return).
    message: Any = field(default=None, compare=False, repr=False)

    @property
    def batching(self) -> bool:
        """Whether the first dimension of every tensor is the batch dimension."""
        return self.max_batch_size > 0

    @property
    def is_ensemble(self) -> bool:
        """Whether this is an ensemble of other models (platform "ensemble")."""
        return self.platform == "ensemble"

    @property
    def instance_count(self) -> int:
        """Total runtime instances across instance groups."""
        return sum(g.count for g in self.instance_groups) or 1

    @cached_property
    def _inputs_by_name(self) -> dict[str, TensorSpec]:
        return {t.name: t for t in self.inputs}

    @cached_property
    def _outputs_by_name(self) -> dict[str, TensorSpec]:
        return {t.name: t for t in self.outputs}

    def input(self, name: str) -> TensorSpec | None:
        """The input spec called ``name``, if any."""
        return self._inputs_by_name.get(name)

    def output(self, name: str) -> TensorSpec | None:
        """The output spec called ``name``, if any."""
        return self._outputs_by_name.get(name)

    def output_datatype(self, name: str) -> str:
        """The protocol datatype of output ``name`` (BYTES for one the config does not list)."""
        spec = self._outputs_by_name.get(name)
        return spec.datatype if spec is not None else "BYTES"

    def full_shape(self, spec: TensorSpec) -> list[int]:
        """Shape as the protocol reports it: -1 batch dimension first when batching."""
        return [-1, *spec.dims] if self.batching else list(spec.dims)
