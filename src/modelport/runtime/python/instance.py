"""One instance of a Python model: its stub process, kept alive across crashes and hangs.

``run_requests`` sends a batch's requests to ``execute`` and turns what comes back into
outcomes. If the stub crashed, or ``execute`` outlived ``execute_timeout_s`` (the stub is then
killed), the batch fails with a message that says so, and the next batch starts a new stub
(``initialize`` runs again). A decoupled model's requests answer through their sinks, from
the reading thread, until the final response; a stub that dies ends them with its error.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np

from modelport.errors import (
    BackendError,
    InferenceError,
    InvalidInput,
    ModelLoadError,
    ModelNotFound,
    Unavailable,
    Unsupported,
)
from modelport.runtime.base import LocalRequest, Outcome, Request, ResponseSink
from modelport.runtime.python.process import StubFailed, StubGone, StubProcess, StubTimedOut
from modelport.runtime.python.stubspec import StubSpec
from modelport.runtime.python.wire import Block, WireTensor

log = logging.getLogger("modelport.python")

# pb_utils.TritonError codes -> the error the client gets (others: 500)
_BY_CODE: dict[int, type[InferenceError]] = {2: ModelNotFound, 3: InvalidInput, 4: Unavailable,
                                              5: Unsupported, 6: InvalidInput}
_RESERVED = frozenset({"binary_data_output", "timeout", "priority", "sequence_id",
                       "sequence_start", "sequence_end", "triton_enable_empty_final_response"})
_CODES = ((InvalidInput, 3), (ModelNotFound, 2), (Unavailable, 4), (Unsupported, 5))


class PythonInstance:
    """A stub process running a model's TritonPythonModel."""

    def __init__(self, spec: StubSpec) -> None:
        self.spec = spec
        self._sinks: dict[int, ResponseSink] = {}
        self._keys = itertools.count()
        self._lock = threading.Lock()
        self.stub = self._start()

    @property
    def _where(self) -> str:
        return f"model '{self.spec.name}' (instance {self.spec.index})"

    def _start(self) -> StubProcess:
        stub = StubProcess(self.spec.label, self.spec.site_dirs, self._on_message,
                           self._on_exit)
        try:
            stub.call("init", self.spec.setup(), self.spec.initialize_timeout_s)
        except StubFailed as exc:
            problem = str(exc)
        except StubGone as exc:
            problem = f"the stub process {exc} while loading model.py"
        except StubTimedOut:
            problem = (f"loading model.py and initialize() took more than "
                       f"{self.spec.initialize_timeout_s:g} s (initialize_timeout_s)")
        else:
            return stub
        stub.stop(1.0, finalize=False)
        raise ModelLoadError(f"{self._where}: {problem}")

    # --- the scheduler's calls ----------------------------------------------------------------

    def run(self, inputs: Mapping[str, np.ndarray], outputs: Sequence[str]) -> list[np.ndarray]:
        """One request (warm-up); a decoupled model's first response.

        Raises:
            InferenceError: the model failed or answered with an error.
        """
        sink = _Collect() if self.spec.decoupled else None
        (outcome,) = self.run_requests([Request(inputs, outputs, sink=sink)])
        if isinstance(outcome, Exception):
            raise outcome
        if sink is None:
            return outcome
        first = sink.first(self.spec.execute_timeout_s)
        return [first[name] for name in outputs if name in first]

    def run_requests(self, requests: Sequence[Request]) -> list[Outcome]:
        """Send the requests to ``execute`` together; one outcome each.

        Raises:
            BackendError: the stub crashed, hung, or could not start again.
        """
        stub = self._ensure_started()
        keys = [next(self._keys) for _ in requests]
        batch = []
        for key, request in zip(keys, requests, strict=True):
            if request.sink is not None:
                with self._lock:
                    self._sinks[key] = request.sink
            batch.append((key, request.request_id, _own(request.parameters),
                          stub.channel.pack(request.inputs.items()), list(request.outputs),
                          *_sequence(request.parameters)))
        try:
            outcomes, freed = self._execute(stub, keys, batch)
        except StubTimedOut:
            stub.kill()
            stub.stop(1.0, finalize=False)  # gone for good before the next request comes
            raise BackendError(f"{self._where}: execute() did not return within "
                               f"{self.spec.execute_timeout_s:g} s (execute_timeout_s); its stub "
                               "process was stopped and starts again with the next request"
                               ) from None
        except StubGone as exc:
            raise BackendError(f"{self._where}: the stub process {exc} during execute(); it "
                               "starts again with the next request") from None
        except StubFailed as exc:
            raise BackendError(f"{self._where}: execute() failed: {exc}") from None
        stub.channel.release(freed)
        return [self._outcome(stub, key, request, outcome)
                for key, request, outcome in zip(keys, requests, outcomes, strict=True)]

    def _execute(self, stub: StubProcess, keys: list[int], batch: list[tuple[Any, ...]],
                 ) -> tuple[list[tuple[Any, ...]], list[Block]]:
        try:
            result: tuple[list[tuple[Any, ...]], list[Block]] = stub.call(
                "execute", batch, self.spec.execute_timeout_s)
            return result
        except BaseException:
            with self._lock:  # the batch failed as a whole: its streams end with its error
                for key in keys:
                    self._sinks.pop(key, None)
            raise

    def close(self) -> None:
        """Call the model's ``finalize`` and end the stub."""
        self.stub.stop(self.spec.execute_timeout_s)

    # --- outcomes -----------------------------------------------------------------------------

    def _ensure_started(self) -> StubProcess:
        if self.stub.alive:
            return self.stub
        log.warning("%s: starting its stub process again (it %s)", self._where, self.stub.ended)
        self.stub.stop(1.0, finalize=False)
        try:
            self.stub = self._start()
        except ModelLoadError as exc:
            raise BackendError(f"{exc} (starting again after a failure)") from None
        return self.stub

    def _outcome(self, stub: StubProcess, key: int, request: Request,
                 outcome: tuple[Any, ...]) -> Outcome:
        if outcome[0] == "pending":
            return []
        with self._lock:
            self._sinks.pop(key, None)
        if outcome[0] == "error":
            return error_for(outcome[1], outcome[2])
        if outcome[0] == "none":
            return BackendError(f"{self._where} sent no response to a request")
        arrays = _arrays(stub, outcome[1])
        missing = [name for name in request.outputs if name not in arrays]
        if missing:
            return BackendError(f"{self._where} did not return output '{missing[0]}', which "
                                "the request asked for")
        return [arrays[name] for name in request.outputs]

    # --- the reading thread's messages --------------------------------------------------------

    def _on_message(self, stub: StubProcess, message: tuple[Any, ...]) -> None:
        if message[0] == "response":
            self._response(stub, *message[1:])
        elif message[0] == "bls":
            self._bls(stub, message[1], *message[2])

    def _response(self, stub: StubProcess, key: int, outcome: tuple[Any, ...],
                  final: bool) -> None:
        ending = final or outcome[0] == "error"
        with self._lock:
            sink = self._sinks.pop(key, None) if ending else self._sinks.get(key)
        arrays = _arrays(stub, outcome[1]) if outcome[0] == "ok" else {}
        if sink is None:
            return  # the request already ended (its stream failed or its client left)
        if outcome[0] == "error":
            sink.send(error_for(outcome[1], outcome[2]), True)
        else:
            sink.send(arrays, final)

    def _on_exit(self, how: str) -> None:
        with self._lock:
            sinks, self._sinks = list(self._sinks.values()), {}
        for sink in sinks:
            sink.send(BackendError(f"{self._where}: the stub process {how} before the request's "
                                   "final response"), True)

    def _bls(self, stub: StubProcess, call_id: int, model: str, version: str,
             packed: list[WireTensor], outputs: list[str], request_id: str,
             parameters: dict[str, Any], decoupled: bool) -> None:
        respond = partial(_reply, stub, call_id)
        inputs = _arrays(stub, packed)
        if self.spec.models is None:
            respond(Unavailable("this server cannot run BLS requests"), True)
            return
        self.spec.models.call(LocalRequest(model, version, inputs, outputs, request_id,
                                           parameters, decoupled), respond)


def _arrays(stub: StubProcess, packed: list[WireTensor]) -> dict[str, np.ndarray]:
    """Arrays copied out of a message; their shared blocks go back to the stub."""
    arrays, blocks = stub.channel.unpack(packed, copy=True)
    if blocks:
        stub.send(("free", blocks))
    return dict(arrays)


def _reply(stub: StubProcess, call_id: int, outcome: Mapping[str, np.ndarray] | Exception,
           final: bool) -> None:
    """Send a BLS response to the stub (on the server's event loop)."""
    if isinstance(outcome, Exception):
        code = next((c for cls, c in _CODES if isinstance(outcome, cls)), 1)
        wire: tuple[Any, ...] = ("error", str(outcome), code)
    else:
        wire = ("ok", stub.channel.pack(outcome.items()))
    stub.send(("bls_reply", call_id, wire, final))


def error_for(message: str, code: int) -> InferenceError:
    """The error a client gets for a response's ``TritonError``."""
    return _BY_CODE.get(code, BackendError)(message)


def _own(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The request's own parameters: those the protocol and server act on are left out, as
    Triton leaves them out of ``request.parameters()``."""
    return {k: v for k, v in parameters.items() if k not in _RESERVED}


def _sequence(parameters: Mapping[str, Any]) -> tuple[int | str, int]:
    """A request's correlation id and sequence flags (Triton's START 1, END 2)."""
    flags = (1 if parameters.get("sequence_start") else 0) | (
        2 if parameters.get("sequence_end") else 0)
    correlation = parameters.get("sequence_id", 0)
    return (correlation if isinstance(correlation, (int, str)) else 0), flags


class _Collect:
    """A sink that keeps a decoupled model's first response (for warm-up)."""

    def __init__(self) -> None:
        self._first: Mapping[str, np.ndarray] | Exception | None = None
        self._done = threading.Event()

    def send(self, outputs: Mapping[str, np.ndarray] | Exception, final: bool) -> None:
        if self._first is None:
            self._first = outputs
        if final:
            self._done.set()

    def first(self, timeout_s: float) -> Mapping[str, np.ndarray]:
        if not self._done.wait(timeout_s) or self._first is None:
            raise BackendError(f"no final response within {timeout_s:g} s")
        if isinstance(self._first, Exception):
            raise self._first
        return self._first
