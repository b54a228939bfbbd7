"""Inside the stub: model.py loaded, and its methods run for the server.

``ModelHost`` turns the server's messages into ``pb_utils`` objects and back: it builds the
requests ``execute`` receives (inputs read in place from shared memory), checks what
``execute`` returns as Triton does, and is the ``pb_messages.transport`` through which
response senders and BLS requests reach the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import itertools
import json
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from modelport.runtime.python import pb_messages, pb_utils
from modelport.runtime.python.pb_config import ModelConfig
from modelport.runtime.python.pb_messages import (
    InferenceRequest,
    InferenceResponse,
    InferenceResponseSender,
    ResponseIterator,
    TritonError,
    TritonModelException,
)
from modelport.runtime.python.pb_tensor import Tensor, as_bytes_array
from modelport.runtime.python.wire import Block, Channel, WireTensor

PENDING = ("pending",)  # a decoupled request: its answers go as "response" messages


class ModelHost:
    """The model of one stub process."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.name = ""
        self.version = -1
        self.decoupled = False
        self.model: Any = None
        self._calls: dict[int, ResponseIterator] = {}
        self._call_ids = itertools.count()
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- lifecycle (the server's calls; each returns the reply's payload) --------------------

    def autocomplete(self, setup: dict[str, Any]) -> str:
        """The config after ``auto_complete_config`` (Triton's JSON form)."""
        cls = self._load(setup)
        config = ModelConfig(setup["config"])
        complete = getattr(cls, "auto_complete_config", None)
        if complete is not None:
            config = complete(config)
            if not isinstance(config, ModelConfig):
                raise TritonModelException(f"auto_complete_config function in model "
                                           f"'{self.name}' must return a valid pb.ModelConfig "
                                           "object.")
        return json.dumps(config.as_dict())

    def init(self, setup: dict[str, Any]) -> None:
        """Load model.py, create TritonPythonModel and call its ``initialize(args)``."""
        cls = self._load(setup)
        self.decoupled = bool(setup["decoupled"])
        self.channel.inline_max = int(setup["inline_max"])
        pb_messages.transport = self
        pb_utils.log_sink = lambda level, text: self.channel.send(("log", level, text))
        try:
            self.model = cls()
            if hasattr(self.model, "initialize"):
                self.model.initialize(dict(setup["args"]))
        except Exception as exc:
            raise TritonModelException(f"initialize() failed: {type(exc).__name__}: "
                                       f"{exc}") from exc

    def finalize(self, _: Any = None) -> None:
        """Call the model's ``finalize()``."""
        if hasattr(self.model, "finalize"):
            self.model.finalize()

    def _load(self, setup: dict[str, Any]) -> Any:
        self.name, self.version = setup["name"], int(setup["version"])
        model_file = Path(setup["model_file"])
        sys.modules.setdefault("triton_python_backend_utils", pb_utils)
        pb_utils._model_dir = str(model_file.parent)
        # As Triton's stub: the version folder and the model folder go on sys.path, and
        # model.py is imported as "<version>.model" (so it can import its neighbours).
        sys.path += [str(model_file.parent), str(model_file.parent.parent)]
        try:
            module = importlib.import_module(f"{model_file.parent.name}.{model_file.stem}")
        except Exception as exc:
            raise TritonModelException(f"{model_file.name} cannot be imported: "
                                       f"{type(exc).__name__}: {exc}") from exc
        cls = getattr(module, "TritonPythonModel", None)
        if cls is None:
            raise TritonModelException(f"{model_file.name} of model '{self.name}' does not "
                                       "define class TritonPythonModel")
        return cls

    # --- execute -------------------------------------------------------------------------------

    def execute(self, batch: list[tuple[Any, ...]]) -> tuple[list[tuple[Any, ...]], list[Block]]:
        """Run ``execute`` on a batch: one outcome per request, and the input blocks freed."""
        requests: list[InferenceRequest] = []
        freed: list[Block] = []
        for key, request_id, parameters, packed, outputs, correlation_id, flags in batch:
            arrays, blocks = self.channel.unpack(packed, copy=self.decoupled)
            freed += blocks
            request = InferenceRequest.received(
                request_id, correlation_id, [_tensor(n, a) for n, a in arrays], outputs,
                self.name, self.version, flags, json.dumps(parameters, default=str))
            request.attach_sender(InferenceResponseSender(key, self.decoupled))
            requests.append(request)
        try:
            outcomes = self._outcomes(requests, self._call_execute(requests))
        except Exception as exc:
            self.report(traceback.format_exc())
            message = (f"Failed to process the request(s) for model '{self.name}', message: "
                       f"{type(exc).__name__}: {exc}")
            outcomes = [self._failed(r, message) for r in requests]
        return outcomes, freed

    def _call_execute(self, requests: list[InferenceRequest]) -> Any:
        result = self.model.execute(requests)
        if not inspect.isawaitable(result):
            return result
        future = asyncio.run_coroutine_threadsafe(_as_coroutine(result), self._event_loop())
        if self.decoupled:  # runs on; its responses go through the senders
            future.add_done_callback(self._report_failure)
            return None
        return future.result()

    def _outcomes(self, requests: list[InferenceRequest], result: Any) -> list[tuple[Any, ...]]:
        if self.decoupled:
            if result is not None:
                raise TritonModelException(f"Python model '{self.name}' is using the decoupled "
                                           "mode and the execute function must return None.")
            return [PENDING] * len(requests)
        if result is None:  # the model answered through the senders (one response each)
            result = [r.get_response_sender().kept for r in requests]
        if not isinstance(result, list):
            raise TritonModelException(f"Expected a list in the execute return, found type "
                                       f"'{type(result)}'.")
        if len(result) != len(requests):
            raise TritonModelException(
                "Number of InferenceResponse objects do not match the number of "
                f"InferenceRequest objects. InferenceRequest(s) size is:{len(requests)}, and "
                f"InferenceResponse(s) size is:{len(result)}")
        for response in result:
            if not isinstance(response, InferenceResponse):
                raise TritonModelException("Expected an 'InferenceResponse' object in the "
                                           "execute function return list, found type "
                                           f"'{type(response)}'.")
        return [self.outcome(resp, req.requested_output_names())
                for resp, req in zip(result, requests, strict=True)]

    def _failed(self, request: InferenceRequest, message: str) -> tuple[Any, ...]:
        sender = request.get_response_sender()
        if self.decoupled and sender.closed:
            return PENDING  # it said all it had to say before execute failed
        sender.close()
        return ("error", message, TritonError.INTERNAL)

    def outcome(self, response: InferenceResponse | None,
                wanted: list[str] | None = None) -> tuple[Any, ...]:
        """A response as a message carries it (only the ``wanted`` outputs, when given)."""
        if response is None:
            return ("none",)
        error = response.error()
        if error is not None:
            return ("error", error.message(), error.code())
        tensors = [(t.name(), t.as_numpy()) for t in response.output_tensors()
                   if wanted is None or t.name() in wanted]
        return ("ok", self.channel.pack(tensors))

    def report(self, text: str) -> None:
        """An error for the server's log (a traceback, usually)."""
        with contextlib.suppress(OSError):
            self.channel.send(("log", 2, text.rstrip()))

    def _report_failure(self, future: Any) -> None:
        error = None if future.cancelled() else future.exception()
        if error is not None:
            self.report("".join(traceback.format_exception(error)))

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        """The loop that runs ``async def execute`` (one, on a thread of its own)."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            threading.Thread(target=self._loop.run_forever, name="model-asyncio",
                             daemon=True).start()
        return self._loop

    # --- transport (pb_messages): response senders and BLS ----------------------------------

    def send(self, key: int, response: InferenceResponse | None, final: bool) -> None:
        """A decoupled model's response to request ``key``."""
        self.channel.send(("response", key, self.outcome(response), final))

    def call(self, request: InferenceRequest, decoupled: bool) -> ResponseIterator:
        """Send a BLS request to the server; its responses arrive through ``reply``."""
        call_id = next(self._call_ids)
        responses = ResponseIterator()
        self._calls[call_id] = responses
        version = request.model_version
        inputs = self.channel.pack((t.name(), t.as_numpy()) for t in request.inputs())
        parameters = json.loads(request.parameters())
        if request.timeout():
            parameters["timeout"] = int(request.timeout())
        self.channel.send(("bls", call_id, (
            request.model_name, "" if version < 0 else str(version), inputs,
            request.requested_output_names(), request.request_id(), parameters, decoupled)))
        return responses

    def reply(self, call_id: int, outcome: tuple[Any, ...], final: bool) -> None:
        """A response to one of our BLS requests (on the reading thread)."""
        responses = self._calls.pop(call_id) if final else self._calls.get(call_id)
        if outcome[0] == "error":
            response = InferenceResponse(error=TritonError(outcome[1], outcome[2]))
        else:
            response = InferenceResponse(self.tensors(outcome[1]))
        if responses is not None:
            responses.put(response, final)

    def tensors(self, packed: list[WireTensor]) -> list[Tensor]:
        """Tensors copied out of a message (their shared blocks go back at once)."""
        arrays, blocks = self.channel.unpack(packed, copy=True)
        if blocks:
            self.channel.send(("free", blocks))
        return [_tensor(name, array) for name, array in arrays]


def _tensor(name: str, array: np.ndarray) -> Tensor:
    return Tensor(name, as_bytes_array(array) if array.dtype.kind in "OSU" else array)


async def _as_coroutine(awaitable: Any) -> Any:
    return await awaitable
