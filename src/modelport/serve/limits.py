"""Bounds a request must fit before the server does work for it.

The body size (--max-request-size, after decompression) bounds what a client sends; these
bound what a small body could make the server do: a shape that names more elements than
--max-tensor-elements is refused before any tensor is built (whatever carries its data: JSON,
binary, raw, shared memory), and a request that lists more inputs or outputs than its model
has is refused by name before any of its data is decoded.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from modelport.errors import InvalidInput
from modelport.repository.config import ModelConfig
from modelport.serve.tensors import element_count
from modelport.serve.validate import check_names

DEFAULT_MAX_TENSOR_ELEMENTS = 1 << 30


@dataclass(frozen=True)
class RequestLimits:
    """Per-request bounds (``ServerConfig.max_tensor_elements``)."""

    max_tensor_elements: int = DEFAULT_MAX_TENSOR_ELEMENTS

    def elements(self, name: str, shape: list[int]) -> int:
        """The element count of input ``name`` of ``shape``.

        Raises:
            InvalidInput: the shape is malformed, or names more elements than the limit (zero
                dims do not hide the others: [0, 2**40] is refused too).
        """
        count = element_count(shape)
        limit = self.max_tensor_elements
        # a zero dim makes the count 0: then the other dims must fit the limit on their own
        if count > limit or (not count and math.prod(d for d in shape if d) > limit):
            raise InvalidInput(f"input '{name}' of shape {shape} has more than "
                               f"{self.max_tensor_elements} elements, the server's limit "
                               "(--max-tensor-elements)")
        return count

    def tensors(self, config: ModelConfig, inputs: Collection[Any], outputs: Collection[Any],
                name_of: Callable[[Any], object]) -> None:
        """More inputs (or requested outputs) than the model has means one is unknown or
        repeated: say which (validation's words) before decoding any data.

        Raises:
            InvalidInput: an unknown or repeated name.
        """
        if len(inputs) > len(config.inputs) or len(outputs) > len(config.outputs):
            ins, outs = map(name_of, inputs), map(name_of, outputs)
            check_names(config, [n for n in ins if isinstance(n, str)],
                        [n for n in outs if isinstance(n, str)])


DEFAULT_LIMITS = RequestLimits()
