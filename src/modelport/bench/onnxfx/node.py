"""One ONNX node as an operator sees it: its input values, attributes and opset."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelport.bench.onnxfx.builder import Builder
from modelport.bench.onnxfx.values import Value


@dataclass
class OnnxNode:
    """A node being converted.

    Attributes:
        op_type: the ONNX operator (``Conv``).
        inputs: the values of its inputs, None for an omitted optional input.
        attrs: its attributes as Python values (ints, floats, strings, lists, tensors).
        outputs: how many outputs the graph uses (trailing unused ones are not counted).
        declared: how many outputs the node declares.
        opset: the model's opset of the default domain.
        b: the graph under construction.
        ranks: the rank of each input where shape inference knew it.
    """

    op_type: str
    inputs: list[Value | None]
    attrs: dict[str, Any]
    outputs: int
    declared: int
    opset: int
    b: Builder
    ranks: list[int | None]

    def input(self, index: int) -> Value | None:
        """Input ``index``, None when omitted or absent."""
        return self.inputs[index] if index < len(self.inputs) else None

    def rank(self, index: int = 0) -> int | None:
        """The rank of input ``index`` when shape inference knew it."""
        return self.ranks[index] if index < len(self.ranks) else None

    def x(self, index: int = 0) -> Value:
        """A required input.

        Raises:
            NotImplementedError: the input is missing.
        """
        value = self.input(index)
        if value is None:
            raise NotImplementedError(f"input {index} is missing")
        return value

    def attr(self, name: str, default: Any = None) -> Any:
        """Attribute ``name``, or ``default`` when the node does not set it."""
        return self.attrs.get(name, default)

    def single_output(self) -> None:
        """Reject a node whose optional extra outputs (masks, indices, statistics) are used.

        Raises:
            NotImplementedError: the graph reads more than the first output.
        """
        if self.outputs > 1:
            raise NotImplementedError(f"only the first output of {self.op_type} is supported")
