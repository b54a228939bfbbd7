"""The Triton model configuration of a demo model, and its protobuf text form (config.pbtxt).

Each demo model declares its tensors once, here; the ONNX graph takes its inputs and outputs from
the same declaration, so the two cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelport.datatypes import by_name

Dim = int | str
"""One tensor dimension: a fixed size, or the name of a variable one (``-1`` in the config)."""


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output as the config declares it (without the batch dimension)."""

    name: str
    datatype: str  # Open Inference Protocol name, e.g. "FP32"
    dims: tuple[Dim, ...]

    @property
    def config_dims(self) -> tuple[int, ...]:
        """The dims as config.pbtxt writes them: named dims become -1."""
        return tuple(d if isinstance(d, int) else -1 for d in self.dims)


@dataclass(frozen=True)
class DynamicBatching:
    """Triton's ``dynamic_batching`` block; empty means the server's defaults."""

    preferred_batch_size: tuple[int, ...] = ()
    max_queue_delay_microseconds: int = 0


@dataclass(frozen=True)
class InstanceGroup:
    """One entry of Triton's ``instance_group`` list."""

    count: int
    kind: str  # e.g. "KIND_CPU"


@dataclass(frozen=True)
class DemoConfig:
    """What config.pbtxt says about one demo model."""

    name: str
    max_batch_size: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    dynamic_batching: DynamicBatching | None = None
    instance_groups: tuple[InstanceGroup, ...] = ()
    platform: str = "onnxruntime_onnx"
    batch_dim: str = "batch"  # the graph's name for the batch dimension

    def graph_dims(self, spec: TensorSpec) -> tuple[Dim, ...]:
        """The tensor's full shape in the ONNX graph: the batch dimension first when batching."""
        if self.max_batch_size > 0:
            return (self.batch_dim, *spec.dims)
        return spec.dims


def render_config(config: DemoConfig) -> str:
    """The config as Triton's protobuf text format, ending in a newline."""
    lines = [
        f'name: "{config.name}"',
        f'platform: "{config.platform}"',
        f"max_batch_size: {config.max_batch_size}",
        *_tensor_list("input", config.inputs),
        *_tensor_list("output", config.outputs),
    ]
    if config.dynamic_batching is not None:
        lines += _dynamic_batching(config.dynamic_batching)
    if config.instance_groups:
        lines += _instance_groups(config.instance_groups)
    return "\n".join(lines) + "\n"


def _tensor_list(field: str, specs: tuple[TensorSpec, ...]) -> list[str]:
    entries = [
        [
            f'    name: "{spec.name}"',
            f"    data_type: {by_name(spec.datatype).config}",
            f"    dims: {_int_list(spec.config_dims)}",
        ]
        for spec in specs
    ]
    return _block_list(field, entries)


def _dynamic_batching(batching: DynamicBatching) -> list[str]:
    fields = []
    if batching.preferred_batch_size:
        fields.append(f"  preferred_batch_size: {_int_list(batching.preferred_batch_size)}")
    if batching.max_queue_delay_microseconds:
        fields.append(f"  max_queue_delay_microseconds: {batching.max_queue_delay_microseconds}")
    if not fields:
        return ["dynamic_batching { }"]
    return ["dynamic_batching {", *fields, "}"]


def _instance_groups(groups: tuple[InstanceGroup, ...]) -> list[str]:
    entries = [[f"    count: {group.count}", f"    kind: {group.kind}"] for group in groups]
    return _block_list("instance_group", entries)


def _block_list(field: str, entries: list[list[str]]) -> list[str]:
    lines = [f"{field} ["]
    for i, entry in enumerate(entries):
        closing = "  }," if i < len(entries) - 1 else "  }"
        lines += ["  {", *entry, closing]
    return [*lines, "]"]


def _int_list(values: tuple[int, ...]) -> str:
    return "[ " + ", ".join(str(v) for v in values) + " ]"
