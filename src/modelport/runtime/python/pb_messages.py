"""Requests, responses and errors of ``triton_python_backend_utils``, as model.py uses them.

The stub sets ``transport``: what a response sender and a BLS request (``exec``) go through.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from modelport.runtime.python.pb_tensor import Tensor

TRITONSERVER_REQUEST_FLAG_SEQUENCE_START = 1
TRITONSERVER_REQUEST_FLAG_SEQUENCE_END = 2
TRITONSERVER_RESPONSE_COMPLETE_FINAL = 1
TRITONSERVER_REQUEST_RELEASE_ALL = 1
TRITONSERVER_REQUEST_RELEASE_RESCHEDULE = 2


class TritonError(Exception):
    """An error for one response: ``TritonError(message, code=TritonError.INTERNAL)``."""

    UNKNOWN = 0
    INTERNAL = 1
    NOT_FOUND = 2
    INVALID_ARG = 3
    UNAVAILABLE = 4
    UNSUPPORTED = 5
    ALREADY_EXISTS = 6
    CANCELLED = 7

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self._message, self._code = message, code

    def message(self) -> str:
        """The error's text."""
        return self._message

    def code(self) -> int:
        """One of the class's codes (INTERNAL unless given)."""
        return self._code


class TritonModelException(Exception):
    """What model code raises to fail initialize, execute or finalize."""


class Transport(Protocol):
    """What the stub offers model code: sending responses and calling other models."""

    def send(self, key: int, response: InferenceResponse | None, final: bool) -> None:
        """One response of a decoupled model's request ``key``."""
        ...

    def call(self, request: InferenceRequest, decoupled: bool) -> ResponseIterator:
        """Start a BLS request; its responses come through the iterator."""
        ...


transport: Transport | None = None


def _parameters_json(parameters: Any) -> str:
    if parameters is None:
        return "{}"
    if isinstance(parameters, str):
        return parameters
    for key, value in dict(parameters).items():
        if not isinstance(key, str) or not isinstance(value, (bool, int, str)):
            raise TritonModelException("parameters must map str keys to bool, int or str values")
    return json.dumps(dict(parameters))


class InferenceResponse:
    """Output tensors or an error, and optional parameters."""

    def __init__(self, output_tensors: Sequence[Tensor] = (), error: TritonError | None = None,
                 parameters: Any = None) -> None:
        self._outputs = list(output_tensors)
        self._error = error
        self._parameters = _parameters_json(parameters)

    def output_tensors(self) -> list[Tensor]:
        """The output tensors."""
        return self._outputs

    def has_error(self) -> bool:
        """Whether the response carries an error."""
        return self._error is not None

    def error(self) -> TritonError | None:
        """The error, if any."""
        return self._error

    def parameters(self) -> str:
        """The response's parameters as a JSON string."""
        return self._parameters


class InferenceResponseSender:
    """Sends the responses of one request (decoupled models; one response otherwise)."""

    def __init__(self, key: int, decoupled: bool) -> None:
        self._key, self._decoupled = key, decoupled
        self._sent, self._closed = 0, False
        self._lock = threading.Lock()
        self.kept: InferenceResponse | None = None  # non-decoupled: the one response

    def send(self, response: InferenceResponse | None = None, flags: int = 0) -> None:
        """Send ``response`` (optional with the final flag); flags=FINAL closes the sender."""
        final = bool(flags & TRITONSERVER_RESPONSE_COMPLETE_FINAL)
        with self._lock:
            if not self._decoupled:
                if response is not None and self._sent:
                    raise TritonModelException("Unable to send response. Non-decoupled model "
                                               "cannot send more than one response.")
                if response is None and final and not self._sent:
                    raise TritonModelException("Unable to send response. Non-decoupled model "
                                               "cannot send complete final before sending a "
                                               "response.")
            if self._closed:
                raise TritonModelException("Unable to send response. Response sender has been "
                                           "closed.")
            self._closed = final
            self._sent += 1
        if not self._decoupled:
            self.kept = response if response is not None else self.kept
        elif transport is not None:
            transport.send(self._key, response, final)

    def is_cancelled(self) -> bool:
        """Whether the client cancelled the request (modelport does not track it: False)."""
        return False

    @property
    def closed(self) -> bool:
        """Whether the final flag was sent."""
        return self._closed

    def close(self) -> None:
        """Send nothing more (after execute failed)."""
        self._closed = True


class InferenceRequest:
    """A request: what ``execute`` receives, and what a model builds to call another (BLS)."""

    def __init__(self, request_id: str = "", correlation_id: int | str = 0,
                 inputs: Sequence[Tensor] | None = None,
                 requested_output_names: Sequence[str] | None = None,
                 model_name: str | None = None, model_version: int = -1, flags: int = 0,
                 timeout: int = 0, preferred_memory: Any = None, trace: Any = None,
                 parameters: Any = None) -> None:
        if inputs is None or requested_output_names is None or model_name is None:
            raise TypeError("InferenceRequest needs inputs, requested_output_names and "
                            "model_name")
        if not isinstance(correlation_id, (int, str)):
            raise TritonModelException("Correlation ID must be integer or string")
        self._id, self._correlation_id = request_id, correlation_id
        self._inputs, self._outputs = list(inputs), list(requested_output_names)
        self.model_name, self.model_version = model_name, model_version
        self._flags, self._timeout = flags, timeout
        self._parameters = _parameters_json(parameters)
        self._sender: InferenceResponseSender | None = None
        self._release_flags = TRITONSERVER_REQUEST_RELEASE_ALL

    @classmethod
    def received(cls, request_id: str, correlation_id: int | str, inputs: list[Tensor],
                 requested_output_names: list[str], model_name: str, model_version: int,
                 flags: int, parameters: str) -> InferenceRequest:
        """A request as the server sent it to ``execute`` (``parameters``: JSON text)."""
        request = cls(request_id, correlation_id, inputs, requested_output_names, model_name,
                      model_version, flags)
        request._parameters = parameters
        return request

    def attach_sender(self, sender: InferenceResponseSender) -> None:
        """Give a received request its response sender."""
        self._sender = sender

    def inputs(self) -> list[Tensor]:
        """The input tensors."""
        return self._inputs

    def request_id(self) -> str:
        """The client's request id ("" when it gave none)."""
        return self._id

    def correlation_id(self) -> int | str:
        """The sequence's correlation id (0 outside sequences)."""
        return self._correlation_id

    def flags(self) -> int:
        """Sequence flags (TRITONSERVER_REQUEST_FLAG_SEQUENCE_START / _END)."""
        return self._flags

    def set_flags(self, flags: int) -> None:
        """Set the sequence flags (BLS requests)."""
        self._flags = flags

    def timeout(self) -> int:
        """The request's timeout in microseconds (0: none)."""
        return self._timeout

    def parameters(self) -> str:
        """The request's parameters as a JSON string."""
        return self._parameters

    def requested_output_names(self) -> list[str]:
        """The outputs the caller asked for."""
        return self._outputs

    def get_response_sender(self) -> InferenceResponseSender:
        """The sender of this request's responses (requests ``execute`` receives)."""
        if self._sender is None:
            raise TritonModelException("only requests passed to execute() have a response "
                                       "sender")
        return self._sender

    def is_cancelled(self) -> bool:
        """Whether the client cancelled the request (modelport does not track it: False)."""
        return False

    def set_release_flags(self, flags: int) -> None:
        """Accepted for compatibility; rescheduling needs iterative sequence batching, which
        modelport does not offer."""
        self._release_flags = flags

    def exec(self, decoupled: bool = False) -> Any:
        """Run this request on another model of the server and wait: one response, or an
        iterator of them with ``decoupled=True``."""
        if transport is None:
            raise TritonModelException("models can call other models only while serving")
        responses = transport.call(self, decoupled)
        return responses if decoupled else next(responses)

    def async_exec(self, decoupled: bool = False) -> asyncio.Future[Any]:
        """``exec`` without blocking the running event loop (await the result)."""
        return asyncio.get_running_loop().run_in_executor(None, self.exec, decoupled)


class ResponseIterator:
    """The responses of a BLS request, as they come (``put`` by the stub)."""

    _END = object()

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._ready = threading.Condition()
        self._cancelled = False

    def put(self, response: InferenceResponse, final: bool) -> None:
        """Add a response (and the end after the final one)."""
        with self._ready:
            self._items.append(response)
            if final:
                self._items.append(self._END)
            self._ready.notify_all()

    def __iter__(self) -> Iterator[InferenceResponse]:
        return self

    def __next__(self) -> InferenceResponse:
        with self._ready:
            self._ready.wait_for(lambda: bool(self._items))
            item = self._items[0]
            if item is self._END:
                raise StopIteration
            self._items.pop(0)
            return item  # type: ignore[no-any-return]

    def cancel(self) -> None:
        """Accepted for compatibility: the responses still come and are dropped."""
        self._cancelled = True
