"""The torch.fx graph under construction: constant folding, constants as buffers, size reads."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any

from modelport.bench.onnxfx.lib import fx, torch
from modelport.bench.onnxfx.values import Const, Dims, Value


def dims_tensor(items: list[Any]) -> Any:
    """A shape vector turned into an int64 tensor at run time (when a tensor op consumes it)."""
    return torch.tensor(items, dtype=torch.int64)


def dims_scalar(item: Any) -> Any:
    """One size turned into a 0-D int64 tensor at run time."""
    return torch.tensor(item, dtype=torch.int64)


def _symbolic(obj: Any) -> bool:
    if isinstance(obj, (Dims, fx.Node)):
        return True
    if isinstance(obj, (list, tuple)):
        return any(_symbolic(o) for o in obj)
    if isinstance(obj, dict):
        return any(_symbolic(o) for o in obj.values())
    if isinstance(obj, slice):
        return _symbolic((obj.start, obj.stop, obj.step))
    return False


def _concrete(obj: Any) -> Any:
    if isinstance(obj, Const):
        return obj.tensor
    if isinstance(obj, (list, tuple)):
        return type(obj)(_concrete(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _concrete(v) for k, v in obj.items()}
    return obj


def _wrap(out: Any) -> Value:
    if isinstance(out, torch.Tensor):
        return Const(out)
    if isinstance(out, (list, tuple)):
        return tuple(_wrap(o) for o in out)
    return Const(torch.tensor(out))


class Builder:
    """Adds torch calls to a torch.fx graph, or runs them now when every input is known."""

    def __init__(self, float_dtype: Any) -> None:
        self.float_dtype = float_dtype  # what ONNX float32, float16 and bfloat16 become
        self.graph: Any = fx.Graph()
        self.root: Any = torch.nn.Module()
        self._attrs: dict[int, tuple[Const, Any]] = {}

    def placeholder(self, name: str) -> Any:
        """A graph input."""
        safe = re.sub(r"\W", "_", name)
        return self.graph.placeholder(safe if safe[:1].isalpha() else f"input_{safe}")

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Value:
        """``fn(*args, **kwargs)``: folded to a Const when no argument is known only at run time."""
        if not _symbolic(args) and not _symbolic(kwargs):
            return _wrap(fn(*_concrete(args), **_concrete(kwargs)))
        return self.graph.call_function(fn, self._graph_arg(args), self._graph_arg(kwargs))

    def size(self, node: Any, axis: int) -> Any:
        """A node reading ``node.size(axis)`` at run time."""
        return self.graph.call_method("size", (node, axis))

    def item_op(self, fn: Callable[[Any, Any], Any], a: Any, b: Any) -> Any:
        """Arithmetic on two shape items: a Python int when both are ints, else a graph node."""
        if isinstance(a, int) and isinstance(b, int):
            return int(fn(a, b))
        return self.graph.call_function(fn, (a, b))

    def unpack(self, result: Value, count: int) -> list[Value]:
        """The ``count`` parts of a call that returns a tuple (folded or in the graph)."""
        if isinstance(result, tuple):
            return list(result)
        return [self.graph.call_function(operator.getitem, (result, i)) for i in range(count)]

    def tensor(self, value: Value) -> Any:
        """The value as a tensor-valued graph node (constants become buffers of the module)."""
        if isinstance(value, Const):
            return self._constant(value)
        if isinstance(value, Dims):
            if value.scalar:
                return self.graph.call_function(dims_scalar, (value.items[0],))
            return self.graph.call_function(dims_tensor, (list(value.items),))
        return value

    def module(self, outputs: list[Value]) -> Any:
        """The finished torch.fx GraphModule returning ``outputs`` (a tuple when several)."""
        nodes = [self.tensor(v) for v in outputs]
        self.graph.output(nodes[0] if len(nodes) == 1 else tuple(nodes))
        self.graph.eliminate_dead_code()
        module = fx.GraphModule(self.root, self.graph)
        module.eval()
        return module

    def _constant(self, const: Const) -> Any:
        known = self._attrs.get(id(const))
        if known is not None:
            return known[1]
        name = f"c{len(self._attrs)}"
        self.root.register_buffer(name, const.tensor.contiguous())
        node = self.graph.get_attr(name)
        self._attrs[id(const)] = (const, node)
        return node

    def _graph_arg(self, obj: Any) -> Any:
        if isinstance(obj, (Const, Dims)):
            return self.tensor(obj)
        if isinstance(obj, (list, tuple)):
            return type(obj)(self._graph_arg(o) for o in obj)
        if isinstance(obj, dict):
            return {k: self._graph_arg(v) for k, v in obj.items()}
        return obj
