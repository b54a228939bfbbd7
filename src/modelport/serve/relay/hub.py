"""The model process's side of the front processes: bind the HTTP socket, start N fronts that
inherit it, answer what they relay, restart a front that dies, stop them with a grace period.

``RelayFront`` is a ``Front`` like the in-process HTTP front, so the server starts and stops
it the same way. Requests relayed as INFER frames go through the core's one pipeline
(``RelayedInfer`` is its ``InferCall``); RAW frames are answered by the server's own HTTP
app, routes, restrictions and error mapping included.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import socket
import time
from collections.abc import Coroutine, Mapping
from multiprocessing.process import BaseProcess
from operator import attrgetter
from typing import Any

from modelport.errors import ConfigError
from modelport.repository.config import ModelConfig
from modelport.serve.core import InferenceCore
from modelport.serve.fronts import bind
from modelport.serve.http.app import HttpApp, failed
from modelport.serve.http.routing import Reply
from modelport.serve.limits import RequestLimits
from modelport.serve.relay import front, messages
from modelport.serve.relay.frames import Frame, Kind
from modelport.serve.relay.link import Link, open_link
from modelport.serve.types import InferRequest, InferResponse

log = logging.getLogger("modelport.relay")
START_TIMEOUT_S = 60.0  # a front imports modelport and numpy: a second or two, more when busy
QUICK_DEATH_S = 5.0  # a front that dies sooner than this is restarted after a pause
BACKLOG = 2048


class RelayedInfer:
    """An infer request a front decoded, for the core's pipeline (an ``InferCall``)."""

    __slots__ = ("carrier", "model", "request", "version")
    protocol = "http"

    def __init__(self, request: InferRequest, carrier: Mapping[str, str]) -> None:
        self.request, self.carrier = request, carrier
        self.model, self.version = request.model_name, request.model_version

    def trace_carrier(self) -> Mapping[str, str]:
        """The trace headers the front passed on."""
        return self.carrier

    def decode(self, config: ModelConfig, limits: RequestLimits) -> InferRequest:
        """Decoded already; what needs the config (unknown or repeated names) is checked here.

        Raises:
            InvalidInput: more tensors than the model has.
        """
        request = self.request
        limits.tensors(config, request.inputs, request.outputs, attrgetter("name"))
        return request

    def encode(self, response: InferResponse, request: InferRequest) -> InferResponse:
        """The front encodes."""
        return response


class FrontLink:
    """The model process's end of one front's link: starts a task per request."""

    def __init__(self, app: HttpApp, core: InferenceCore) -> None:
        self.app, self.core = app, core
        self.hello: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.link: Link | None = None
        self._tasks: dict[int, asyncio.Task[None]] = {}

    def on_frame(self, frame: Frame) -> None:
        """Dispatch one frame from the front."""
        if frame.kind is Kind.INFER:
            self._start(frame.id, self._infer(frame))
        elif frame.kind is Kind.RAW:
            self._start(frame.id, self._raw(frame))
        elif frame.kind is Kind.CANCEL:
            task = self._tasks.get(frame.id)
            if task is not None:
                task.cancel()
        elif frame.kind is Kind.HELLO and not self.hello.done():
            self.hello.set_result(frame.head)

    def cancel_all(self) -> None:
        """The front is gone: so are its clients."""
        for task in list(self._tasks.values()):
            task.cancel()

    def _start(self, request_id: int, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks[request_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(request_id, None))

    async def _infer(self, frame: Frame) -> None:
        assert self.link is not None
        try:
            request, carrier = messages.infer_from(frame.head, frame.payload)
            response = await self.core.infer(RelayedInfer(request, carrier))
            head, payload = messages.result_parts(response)
        except Exception as exc:  # a bug must cost one request, never the server
            self._reply(frame.id, failed(exc, "relayed infer"))
        else:
            self.link.send(Kind.RESULT, frame.id, head, payload)

    async def _raw(self, frame: Frame) -> None:
        reply = await self.app.reply_to(messages.request_from(frame.head, frame.payload))
        self._reply(frame.id, reply)

    def _reply(self, request_id: int, reply: Reply) -> None:
        assert self.link is not None
        self.link.send(Kind.REPLY, request_id, *messages.reply_parts(reply))


class _Running:
    """One front process and its link."""

    def __init__(self, process: BaseProcess, link: FrontLink, started: float) -> None:
        self.process, self.link, self.started = process, link, started


class RelayFront:
    """The HTTP front as N front processes (``--http-fronts N``)."""

    name = "HTTP"

    def __init__(self, app: HttpApp, core: InferenceCore, address: str, port: int,
                 spec: front.FrontSpec, count: int) -> None:
        self.app, self.core, self.address, self.port = app, core, address, port
        self.spec, self.count = spec, count
        self._listener: socket.socket | None = None
        self._running: dict[int, _Running] = {}
        self._stopping = False
        self._restarts: set[asyncio.Task[None]] = set()
        self._context = multiprocessing.get_context("spawn")

    @property
    def pids(self) -> list[int | None]:
        """The front processes' ids, in index order (None for one not started)."""
        return [self._running[i].process.pid for i in sorted(self._running)]

    async def start(self) -> int:
        """Bind, listen, start every front and wait until each serves.

        Raises:
            ConfigError: the address cannot be bound, or a front failed to start.
        """
        if self.spec.tls is not None:
            self.spec.tls.server_context()  # unusable TLS files fail here, not in each front
        self._listener = sock = bind(self.address, self.port)
        sock.listen(BACKLOG)
        try:
            for index in range(self.count):
                await self._spawn(index)
        except BaseException:
            await self.stop(0.0)
            raise
        log.info("HTTP served by %d front process(es) (--http-fronts; 0 keeps HTTP in this "
                 "process): pids %s", self.count, ", ".join(map(str, self.pids)))
        return int(sock.getsockname()[1])

    async def _spawn(self, index: int) -> None:
        assert self._listener is not None
        ours, theirs = socket.socketpair()
        process = self._context.Process(
            target=front.run, args=(self.spec, index, self._listener, theirs),
            name=f"modelport-http-front-{index}", daemon=True)
        process.start()
        theirs.close()
        handler = FrontLink(self.app, self.core)
        handler.link = await open_link(ours, handler.on_frame,
                                       lambda: self._lost(index, handler))
        self._running[index] = _Running(process, handler, time.monotonic())
        try:
            await asyncio.wait_for(asyncio.shield(handler.hello), START_TIMEOUT_S)
        except (asyncio.TimeoutError, ConnectionError):
            process.kill()
            raise ConfigError(f"HTTP front process {index} did not start within "
                              f"{START_TIMEOUT_S:g} s (exit code {process.exitcode}); its "
                              "error is in the log above") from None

    def _lost(self, index: int, handler: FrontLink) -> None:
        handler.cancel_all()
        if not handler.hello.done():
            handler.hello.set_exception(ConnectionError("the front process exited"))
            handler.hello.exception()  # read here too: nobody may be waiting any more
        running = self._running.get(index)
        if self._stopping or running is None or running.link is not handler:
            return
        task = asyncio.get_running_loop().create_task(self._restart(index, running))
        self._restarts.add(task)
        task.add_done_callback(self._restarts.discard)

    async def _restart(self, index: int, dead: _Running) -> None:
        await asyncio.get_running_loop().run_in_executor(None, dead.process.join, 5.0)
        log.warning("HTTP front process %d (pid %s) exited with code %s; starting another",
                    index, dead.process.pid, dead.process.exitcode)
        if time.monotonic() - dead.started < QUICK_DEATH_S:
            await asyncio.sleep(1.0)  # a front that keeps dying must not spin the server
        if self._stopping:
            return
        try:
            await self._spawn(index)
        except ConfigError as exc:
            log.error("%s", exc)

    async def stop(self, grace_s: float) -> None:
        """Tell every front to stop accepting and finish within ``grace_s``; then end them."""
        self._stopping = True
        for task in list(self._restarts):
            task.cancel()
        running = list(self._running.values())
        for item in running:
            assert item.link.link is not None
            item.link.link.send(Kind.STOP, 0, [grace_s])
        closed = [item.link.link.closed for item in running if item.link.link is not None]
        if closed:
            await asyncio.wait(closed, timeout=grace_s + 2.0)
        loop = asyncio.get_running_loop()
        for item in running:
            await loop.run_in_executor(None, item.process.join, 2.0)
            if item.process.is_alive():
                log.warning("HTTP front process %s did not stop in time; killing it",
                            item.process.pid)
                item.process.kill()
                await loop.run_in_executor(None, item.process.join, 5.0)
        self._running.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
