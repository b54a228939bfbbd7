"""What a JSON head said, remembered for the next body with the same head.

Clients send the same head over and over (tritonclient and perf_analyzer write identical JSON
for identical shapes, with the tensors after it in the binary extension); decoding it again
was the largest single step of a small model's request. When every input's data is in the
binary part, a body with the same head and the same length decodes to the same names,
datatypes, shapes, outputs, id and parameters, with each tensor at the same place: the
decoder slices the tensors and skips the JSON. The model's tensor count is still checked on
every request (the model behind a name can change), and errors keep their words: a head is
remembered only after it decoded without one.
"""

from __future__ import annotations

from typing import Any

from modelport.repository.config import ModelConfig
from modelport.serve.limits import RequestLimits
from modelport.serve.tensors import from_raw
from modelport.serve.types import InferRequest, InputTensor

HEAD_MAX = 4096  # JSON heads longer than this are decoded every time
REMEMBERED = 512  # heads remembered (all forgotten when full: clients choose heads)

Key = tuple[bytes, int, int]


class Head:
    """A decoded head: everything but the tensors, and where each tensor lies."""

    __slots__ = ("binary_output", "id", "input_names", "inputs", "output_names", "outputs",
                 "parameters")

    def __init__(self, request: InferRequest, spans: list[tuple[int, int]]) -> None:
        self.id, self.parameters = request.id, request.parameters
        self.binary_output = request.binary_output
        self.inputs = [(t.name, t.datatype, tuple(t.shape), a, b)
                       for t, (a, b) in zip(request.inputs, spans, strict=True)]
        self.outputs = request.outputs  # RequestedOutput values, never changed downstream
        self.input_names = [t.name for t in request.inputs]
        self.output_names = [o.name for o in request.outputs]

    def request(self, body: bytes | bytearray, model: str, version: str, config: ModelConfig | None,
                limits: RequestLimits) -> InferRequest:
        """The request ``body`` holds (this head; its own tensors).

        Raises:
            InvalidInput: more tensors than the model has, or BYTES elements that do not
                fill their tensor (the full decoder's words).
        """
        if config is not None:
            limits.tensors(config, self.input_names, self.output_names, _same)
        view = memoryview(body)
        inputs = [InputTensor(name, datatype, list(shape),
                              from_raw(name, datatype, list(shape), view[a:b]))
                  for name, datatype, shape, a, b in self.inputs]
        return InferRequest(model, version, self.id, dict(self.parameters), inputs,
                            list(self.outputs), self.binary_output)


_REMEMBERED: dict[Key, Head] = {}


def key(body: bytes | bytearray, header_length: int | None, limits: RequestLimits) -> Key | None:
    """What identifies a body's head (None: a body without a short binary-extension head)."""
    if header_length is None or header_length > HEAD_MAX:
        return None
    return bytes(body[:header_length]), len(body), limits.max_tensor_elements


def find(found: Key | None) -> Head | None:
    """The head remembered under ``found``, if any."""
    return _REMEMBERED.get(found) if found is not None else None


def remember(found: Key, head: Head) -> None:
    """Remember ``head`` (forgetting every head when the memory is full)."""
    if len(_REMEMBERED) >= REMEMBERED:
        _REMEMBERED.clear()
    _REMEMBERED[found] = head


def binary_only(raw_inputs: list[Any], request: InferRequest) -> bool:
    """Whether every input's data came in the binary part (none in the JSON, none in shared
    memory), so the same head always decodes the same way."""
    return not request.uses_shared_memory and not any("data" in i for i in raw_inputs)


def _same(name: Any) -> Any:
    return name
