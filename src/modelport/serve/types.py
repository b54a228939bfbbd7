"""Protocol-neutral requests and responses: what each front's codec produces and consumes.

BYTES tensors are numpy object arrays; a decoder fills them with ``bytes`` as they arrived, the
core turns them into text once (ONNX strings are text), and encoders take ``str`` or ``bytes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelport.serve.shm import ShmRef


@dataclass
class InputTensor:
    """A decoded input: ``data`` already has ``shape`` and the datatype's numpy dtype; an input
    sent through shared memory has ``shm`` set and its data is read by the core."""

    name: str
    datatype: str
    shape: list[int]
    data: np.ndarray
    shm: ShmRef | None = None


@dataclass
class RequestedOutput:
    """An output the client asked for; ``binary`` is None when the client did not say;
    ``classification`` > 0 asks for that many top classes instead of the tensor."""

    name: str
    binary: bool | None = None
    classification: int = 0
    shm: ShmRef | None = None  # write the output into this shared memory region


@dataclass
class InferRequest:
    """One inference request as a front decoded it.

    ``binary_output`` is the request-wide default for outputs that do not say (HTTP's
    ``binary_data_output``, resolved once by the decoder).
    """

    model_name: str
    model_version: str = ""
    id: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    inputs: list[InputTensor] = field(default_factory=list)
    outputs: list[RequestedOutput] = field(default_factory=list)
    binary_output: bool = False

    @property
    def uses_shared_memory(self) -> bool:
        """Whether an input or a requested output names a shared memory region."""
        return (any(t.shm is not None for t in self.inputs)
                or any(o.shm is not None for o in self.outputs))

    def classification(self, output: str) -> int:
        """How many top classes the client asked for ``output`` (0: the tensor itself)."""
        for requested in self.outputs:
            if requested.name == output:
                return requested.classification
        return 0

    def output_shm(self, output: str) -> ShmRef | None:
        """The shared memory region ``output`` goes to, if the client named one."""
        for requested in self.outputs:
            if requested.name == output:
                return requested.shm
        return None

    def wants_binary(self, output: str) -> bool:
        """Whether ``output`` goes back as binary data (HTTP; gRPC is always raw)."""
        for requested in self.outputs:
            if requested.name == output and requested.binary is not None:
                return requested.binary
        return self.binary_output


@dataclass
class OutputTensor:
    """One computed output (``in_shm``: its data went to a shared memory region)."""

    name: str
    datatype: str
    shape: list[int]
    data: np.ndarray
    in_shm: bool = False


@dataclass
class InferResponse:
    """What the core returns to a front for encoding; a decoupled model's request has several,
    the last with ``final`` set (it may hold no outputs: the model only said it was done)."""

    model_name: str
    model_version: str
    id: str = ""
    outputs: list[OutputTensor] = field(default_factory=list)
    final: bool = True
