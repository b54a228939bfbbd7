"""What a name of the ONNX graph stands for while the graph is converted.

``Const``: a tensor known now. ``Dims``: a shape vector (or a single size) whose items are ints
or torch.fx nodes that read a size at run time. Anything else is a torch.fx node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelport.bench.onnxfx.lib import torch

# Const | Dims | torch.fx.Node; torch is imported lazily, so its node type is Any here.
Value = Any


@dataclass(frozen=True, eq=False)
class Const:
    """A tensor known while converting."""

    tensor: Any


@dataclass(frozen=True, eq=False)
class Dims:
    """A 1-D int64 vector (or a scalar when ``scalar``) holding sizes read at run time."""

    items: tuple[Any, ...]
    scalar: bool = False


def make_dims(items: list[Any] | tuple[Any, ...], scalar: bool = False) -> Value:
    """Dims of ``items``, or a Const when every item is already a plain int."""
    if all(isinstance(i, int) for i in items):
        values = [int(i) for i in items]
        return Const(torch.tensor(values[0] if scalar else values, dtype=torch.int64))
    return Dims(tuple(items), scalar)


def int_items(value: Value) -> list[Any] | None:
    """The items of a 0-D or 1-D integer Const or of Dims; None for anything else."""
    if isinstance(value, Dims):
        return list(value.items)
    if isinstance(value, Const):
        t = value.tensor
        if t.dim() <= 1 and not t.is_floating_point() and not t.is_complex():
            return [int(v) for v in t.reshape(-1).tolist()]
    return None


def is_scalar(value: Value) -> bool:
    """True for a 0-D Const or a scalar Dims."""
    if isinstance(value, Dims):
        return value.scalar
    return isinstance(value, Const) and value.tensor.dim() == 0


def const_ints(value: Value, what: str) -> list[int]:
    """The ints of a constant input (axes, pads, ...).

    Raises:
        NotImplementedError: the input is computed at run time.
    """
    items = int_items(value)
    if items is None or not all(isinstance(i, int) for i in items):
        raise NotImplementedError(f"{what} computed at run time")
    return [int(i) for i in items]
