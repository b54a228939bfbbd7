"""Check a decoded request against its model's config before it is queued."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelport.backends import RAW_BYTES
from modelport.errors import InvalidInput
from modelport.repository.config import ModelConfig, TensorSpec
from modelport.serve.types import InferRequest


@dataclass(frozen=True)
class Checked:
    """A request ready for the scheduler."""

    feed: dict[str, np.ndarray]
    batch_size: int
    outputs: tuple[str, ...]
    signature: tuple[tuple[str, tuple[int, ...]], ...]  # requests batch only with equal ones
    request_id: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)  # for models that read them


def check(config: ModelConfig, request: InferRequest) -> Checked:
    """Validate names, datatypes, shapes and requested outputs.

    Raises:
        InvalidInput: the request does not fit the model; the message says how.
    """
    feed, batch_sizes = _check_inputs(config, request)
    outputs = _check_outputs(config, request)
    signature = tuple(sorted((n, tuple(a.shape[1:])) for n, a in feed.items()))
    batch_size = next(iter(batch_sizes.values()), 1)
    return Checked(feed, batch_size, outputs, signature, request.id, request.parameters)


MEMO_SIZE = 256  # request shapes remembered per model version (cleared when full)


class Checker:
    """``check`` for one model version, remembering its verdict per request shape.

    Clients send the same names, datatypes and shapes over and over; for a small model the
    full check was ~10% of the event loop thread. A request whose inputs (names, datatypes,
    shapes) and requested outputs were accepted before, and whose data goes to the model as
    it came (no BYTES conversion, no ``reshape``), is checked by one lookup. What was
    refused is never remembered, so errors keep their words and their order.
    """

    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self._memo: dict[tuple[Any, ...], tuple[int, tuple[str, ...], Any]] = {}
        self._plain = {s.name for s in config.inputs
                       if s.datatype != "BYTES" and s.reshape is None}

    def __call__(self, request: InferRequest) -> Checked:
        """The checked request.

        Raises:
            InvalidInput: the request does not fit the model; the message says how.
        """
        plain = self._plain
        shapes = []
        for t in request.inputs:
            if t.name not in plain:
                return check(self.config, request)
            shapes.append((t.name, t.datatype, *t.shape))
        key = (tuple(shapes), tuple(o.name for o in request.outputs))
        known = self._memo.get(key)
        if known is None:
            checked = check(self.config, request)
            if len(self._memo) >= MEMO_SIZE:
                self._memo.clear()
            self._memo[key] = (checked.batch_size, checked.outputs, checked.signature)
            return checked
        batch_size, outputs, signature = known
        return Checked({t.name: t.data for t in request.inputs}, batch_size, outputs,
                       signature, request.id, request.parameters)


def _check_inputs(config: ModelConfig, request: InferRequest,
                  ) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    feed: dict[str, np.ndarray] = {}
    batch_sizes: dict[str, int] = {}
    for tensor in request.inputs:
        spec = config.input(tensor.name)
        if spec is None:
            known = ", ".join(s.name for s in config.inputs)
            raise InvalidInput(
                f"unexpected inference input '{tensor.name}' for model '{config.name}'; "
                f"its inputs are: {known}"
            )
        if tensor.name in feed:
            raise InvalidInput(f"input '{tensor.name}' is given more than once")
        if tensor.datatype != spec.datatype:
            raise InvalidInput(
                f"inference input '{tensor.name}' data-type is '{tensor.datatype}', but model "
                f"'{config.name}' expects '{spec.datatype}'"
            )
        _check_shape(config, spec, tensor.shape)
        if config.batching:
            batch_sizes[tensor.name] = tensor.shape[0]
        data = tensor.data
        if spec.datatype == "BYTES":
            # An ensemble passes bytes on as they came: each step's model decides.
            raw = config.backend in RAW_BYTES or config.is_ensemble
            data = _as_bytes(data) if raw else _as_text(tensor.name, data)
        feed[tensor.name] = to_model_shape(config, spec, data)
    missing = [s.name for s in config.inputs if s.name not in feed and not s.optional]
    if missing:
        raise InvalidInput(
            f"expected {len(config.inputs)} inputs but got {len(feed)} inputs for model "
            f"'{config.name}'; missing: {', '.join(missing)}"
        )
    if len(set(batch_sizes.values())) > 1:
        sizes = ", ".join(f"'{n}' has {b}" for n, b in batch_sizes.items())
        raise InvalidInput(f"inputs disagree on the batch size: {sizes}")
    return feed, batch_sizes


def check_names(config: ModelConfig, inputs: list[str], outputs: list[str]) -> None:
    """Refuse the first unknown or repeated input name, then output name, in the words of
    the full check (the codecs call it before decoding a request with too many tensors).

    Raises:
        InvalidInput: an unknown or repeated name.
    """
    seen: set[str] = set()
    for name in inputs:
        if config.input(name) is None:
            known = ", ".join(s.name for s in config.inputs)
            raise InvalidInput(
                f"unexpected inference input '{name}' for model '{config.name}'; "
                f"its inputs are: {known}"
            )
        if name in seen:
            raise InvalidInput(f"input '{name}' is given more than once")
        seen.add(name)
    _output_names(config, tuple(outputs))


def _check_outputs(config: ModelConfig, request: InferRequest) -> tuple[str, ...]:
    outputs = tuple(o.name for o in request.outputs) or tuple(s.name for s in config.outputs)
    return _output_names(config, outputs)


def _output_names(config: ModelConfig, outputs: tuple[str, ...]) -> tuple[str, ...]:
    for name in outputs:
        if config.output(name) is None:
            known = ", ".join(s.name for s in config.outputs)
            raise InvalidInput(
                f"unexpected inference output '{name}' for model '{config.name}'; "
                f"its outputs are: {known}"
            )
    if len(set(outputs)) != len(outputs):
        repeated = sorted(n for n, times in Counter(outputs).items() if times > 1)
        raise InvalidInput(f"output '{repeated[0]}' already exists in request: it is requested "
                           "more than once")
    return outputs


def _check_shape(config: ModelConfig, spec: TensorSpec, shape: list[int]) -> None:
    dims = list(spec.dims)
    given = list(shape)
    if config.batching:
        if not shape or shape[0] < 1 or shape[0] > config.max_batch_size:
            hint = ""
            if shape and shape[0] > config.max_batch_size and config.max_batch_size_completed:
                hint = (f"; {config.max_batch_size} was chosen from the ONNX graph because "
                        f"{config.name}/config.pbtxt does not set it: add 'max_batch_size: "
                        f"{_next_power_of_two(shape[0])}' there to accept larger batches")
            raise InvalidInput(
                f"inference input '{spec.name}' batch size {shape[0] if shape else 'missing'} "
                f"is outside 1..{config.max_batch_size} (max_batch_size of '{config.name}')"
                f"{hint}"
            )
        shape = shape[1:]
    if len(shape) != len(dims) or any(
        d != -1 and d != s for d, s in zip(dims, shape, strict=False)
    ):
        expected = config.full_shape(spec)
        raise InvalidInput(
            f"unexpected shape for input '{spec.name}' for model '{config.name}'. "
            f"Expected {expected}, got {given}"
        )


def _as_text(name: str, data: np.ndarray) -> np.ndarray:
    """ONNX string tensors hold UTF-8 text: decode once here (JSON elements are text
    already), reject what is not text."""
    try:
        flat = [v if type(v) is str else bytes(v).decode("utf-8") for v in data.ravel()]
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"BYTES input '{name}' holds an element that is not valid UTF-8 ({exc.reason} at "
            f"byte {exc.start}); ONNX string tensors carry text"
        ) from None
    return np.array(flat, dtype=object).reshape(data.shape)


def _as_bytes(data: np.ndarray) -> np.ndarray:
    """Elements as bytes (JSON carries text: encoded as UTF-8), for models that take bytes."""
    flat = [v if type(v) is bytes else (v.encode("utf-8") if isinstance(v, str) else bytes(v))
            for v in data.ravel()]
    return np.array(flat, dtype=object).reshape(data.shape)


def _next_power_of_two(n: int) -> int:
    return 1 << max(n - 1, 0).bit_length()


def to_model_shape(config: ModelConfig, spec: TensorSpec, data: np.ndarray) -> np.ndarray:
    """An input as the model takes it: reshaped when the config says ``reshape``."""
    if spec.reshape is None:
        return data
    batch = data.shape[:1] if config.batching else ()
    try:
        return data.reshape((*batch, *spec.reshape))
    except ValueError:
        raise InvalidInput(f"input '{spec.name}' of shape {list(data.shape)} cannot take the "
                           f"shape {list(spec.reshape)} that model '{config.name}' reshapes it "
                           "to") from None


def to_client_shape(config: ModelConfig, spec: TensorSpec, data: np.ndarray) -> np.ndarray:
    """An output as clients see it: the config's dims when it says ``reshape``."""
    if spec.reshape is None:
        return data
    batch = data.shape[:1] if config.batching else ()
    return data.reshape((*batch, *spec.dims))
