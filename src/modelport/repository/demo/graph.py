"""A small builder over ``onnx.helper`` that the demo models share.

It names every intermediate value, stores weights as initializers and takes the graph's inputs and
outputs from the model's DemoConfig, so a graph always agrees with its config.pbtxt.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import onnx
from onnx import helper, numpy_helper

from modelport.datatypes import by_name
from modelport.repository.demo.config import DemoConfig, TensorSpec

OPSET = 17
"""The default-domain opset of every demo model (LayerNormalization needs 17)."""

IR_VERSION = 8
"""The ONNX IR version of every demo model; ONNX Runtime 1.17 and later load it."""

PRODUCER = "modelport-demo"

AttributeValue = int | float | str | Sequence[int] | Sequence[float]


class GraphBuilder:
    """Collects nodes and initializers, then assembles one ONNX model."""

    def __init__(self, config: DemoConfig) -> None:
        self.config = config
        self._nodes: list[onnx.NodeProto] = []
        self._initializers: list[onnx.TensorProto] = []
        self._used: set[str] = {spec.name for spec in (*config.inputs, *config.outputs)}
        self._constants: dict[str, onnx.TensorProto] = {}

    def weight(self, name: str, value: npt.ArrayLike, dtype: npt.DTypeLike = np.float32) -> str:
        """Add a constant tensor (a weight or a shape) and return its name."""
        array = np.ascontiguousarray(np.asarray(value, dtype=dtype))
        unique = self._unique(name)
        self._initializers.append(numpy_helper.from_array(array, unique))
        return unique

    def constant(self, name: str, value: npt.ArrayLike, dtype: npt.DTypeLike = np.float32) -> str:
        """A small constant shared by every node that asks for the same name; returns its name."""
        tensor = numpy_helper.from_array(np.asarray(value, dtype=dtype), name)
        known = self._constants.get(name)
        if known is None and name in self._used:
            raise ValueError(f"constant {name!r} clashes with another value's name")
        if known is None:
            self._used.add(name)
            self._constants[name] = tensor
            self._initializers.append(tensor)
        elif known != tensor:
            raise ValueError(f"constant {name!r} defined twice with different values")
        return name

    def op(
        self, op_type: str, *inputs: str, out: str | None = None, **attrs: AttributeValue
    ) -> str:
        """Add one single-output node and return its output's name.

        Args:
            op_type: the ONNX operator, e.g. "Conv".
            inputs: names of the node's inputs, in order.
            out: the output's name; a graph output's name must be given, others are generated.
            attrs: the node's attributes.
        """
        output = out if out is not None else self._unique(op_type.lower())
        node = helper.make_node(op_type, list(inputs), [output], name=f"{output}_node")
        node.attribute.extend(helper.make_attribute(k, v) for k, v in sorted(attrs.items()))
        self._nodes.append(node)
        return output

    def build(self, doc: str) -> onnx.ModelProto:
        """The finished model: opset 17, IR version 8, inputs and outputs from the config."""
        graph = helper.make_graph(
            self._nodes,
            self.config.name,
            [self._value_info(spec) for spec in self.config.inputs],
            [self._value_info(spec) for spec in self.config.outputs],
            initializer=self._initializers,
            doc_string=doc,
        )
        return helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            ir_version=IR_VERSION,
            producer_name=PRODUCER,
            doc_string=doc,
        )

    def _value_info(self, spec: TensorSpec) -> onnx.ValueInfoProto:
        shape = list(self.config.graph_dims(spec))
        return helper.make_tensor_value_info(spec.name, by_name(spec.datatype).onnx, shape)

    def _unique(self, name: str) -> str:
        candidate, n = name, 0
        while candidate in self._used:
            n += 1
            candidate = f"{name}_{n}"
        self._used.add(candidate)
        return candidate
