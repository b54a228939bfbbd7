"""Requests from inside the server: a model calling other models (Triton's BLS).

A Python model's ``pb_utils.InferenceRequest(...).exec()`` reaches the server as a
``LocalRequest`` from a runtime thread; ``LocalModels`` runs it on the server's event loop
through ``InferenceCore.stream`` (the one pipeline: lookup, validation, queue, statistics) with
an in-process ``InferCall`` that decodes from numpy arrays and encodes to them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from modelport.datatypes import from_numpy
from modelport.errors import InferenceError, InvalidInput, Unavailable
from modelport.repository.config import ModelConfig
from modelport.runtime.base import LocalRequest, Respond
from modelport.serve.core import InferenceCore
from modelport.serve.limits import RequestLimits
from modelport.serve.types import InferRequest, InferResponse, InputTensor, RequestedOutput


class LocalInfer:
    """One in-process inference for the core's pipeline (an ``InferCall``)."""

    protocol = "local"

    def __init__(self, request: LocalRequest) -> None:
        self.request = request
        self.model, self.version = request.model, request.version

    def trace_carrier(self) -> Mapping[str, str]:
        """No caller to continue a trace from."""
        return {}

    def decode(self, config: ModelConfig, limits: RequestLimits) -> InferRequest:
        """The arrays as the core's request (in-process: no limits apply)."""
        r = self.request
        inputs = [InputTensor(name, from_numpy(arr.dtype).name, list(arr.shape), arr)
                  for name, arr in r.inputs.items()]
        return InferRequest(r.model, r.version, r.request_id, dict(r.parameters), inputs,
                            [RequestedOutput(name) for name in r.outputs])

    def encode(self, response: InferResponse, request: InferRequest) -> InferResponse:
        """The response itself: the caller reads its arrays."""
        return response


class LocalModels:
    """A ``ModelCaller`` over a running core; ``bind`` it once the core exists."""

    def __init__(self) -> None:
        self._core: InferenceCore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, core: InferenceCore, loop: asyncio.AbstractEventLoop) -> None:
        """Serve calls with ``core`` on ``loop``."""
        self._core, self._loop = core, loop

    def call(self, request: LocalRequest, respond: Respond) -> None:
        """Start ``request`` on the server's loop (from any thread)."""
        core, loop = self._core, self._loop
        if core is None or loop is None or loop.is_closed():
            respond(Unavailable("the server is not running: models cannot call other models"),
                    True)
            return
        asyncio.run_coroutine_threadsafe(_run(core, request, respond), loop)


async def _run(core: InferenceCore, request: LocalRequest, respond: Respond) -> None:
    try:
        if not request.decoupled and _is_decoupled(core, request):
            raise InvalidInput(f"model '{request.model}' is decoupled: call exec(decoupled=True) "
                               "to read its responses")
        async for response in core.stream(LocalInfer(request)):
            respond({o.name: o.data for o in response.outputs}, response.final)
    except InferenceError as exc:
        respond(exc, True)
    except Exception as exc:  # never leave the caller waiting
        respond(InferenceError(f"{type(exc).__name__}: {exc}"), True)


def _is_decoupled(core: InferenceCore, request: LocalRequest) -> bool:
    try:
        return core.manager.get(request.model, request.version).config.decoupled
    except InferenceError:
        return False  # the pipeline answers the lookup's error

