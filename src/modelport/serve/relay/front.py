"""A front process: modelport's HTTP/1.1 wire on the inherited listening socket, with an app
that decodes plain infer requests here and relays everything to the model process.

Started by the hub (``multiprocessing``'s spawn, so it also works from a zipapp). It ignores
SIGINT and SIGTERM, which a terminal or a service manager sends to the whole process group
(the model process decides when the server stops), and leaves when the hub sends STOP (after
finishing its requests in flight) or when the link breaks (the model process is gone).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import signal
import socket
from dataclasses import dataclass
from typing import Literal

from modelport.errors import InvalidInput, Unavailable
from modelport.serve import collector, eventloop
from modelport.serve.http import codec
from modelport.serve.http.app import HttpApp
from modelport.serve.http.endpoints import header_length, infer_reply
from modelport.serve.http.routing import Reply, Request, Router
from modelport.serve.limits import RequestLimits
from modelport.serve.logsettings import LOG_FORMAT
from modelport.serve.relay import messages
from modelport.serve.relay.frames import Frame, Kind
from modelport.serve.relay.link import Link, open_link
from modelport.serve.tls import TlsSettings
from modelport.serve.types import InferRequest

log = logging.getLogger("modelport.relay")


@dataclass(frozen=True)
class FrontSpec:
    """What a front process needs to know of the server's settings.

    Attributes:
        max_request_bytes / max_head_bytes / max_tensor_elements: the server's request limits.
        tls: serve HTTPS with these files (None: plaintext).
        loop: the event loop, resolved (asyncio or uvloop).
        log_level: the server's log level.
        decode_infer: decode plain infer requests here (``--http-fronts-decode``); False, the
            default and always when inference is a restricted API group, relays every
            request raw and the model process's HTTP app answers it.
    """

    max_request_bytes: int
    max_head_bytes: int
    max_tensor_elements: int
    tls: TlsSettings | None
    loop: Literal["asyncio", "uvloop"]
    log_level: str
    decode_infer: bool = False


class Relay:
    """The front's end of the link: each request gets an id and waits for its answer."""

    def __init__(self) -> None:
        self.link: Link | None = None
        self.stopping = asyncio.Event()
        self.grace_s = 0.0
        self._pending: dict[int, asyncio.Future[Frame]] = {}
        self._ids = itertools.count(1)

    def on_frame(self, frame: Frame) -> None:
        """An answer (or STOP) from the model process."""
        if frame.kind is Kind.STOP:
            self.grace_s = float(frame.head[0])
            self.stopping.set()
            return
        waiter = self._pending.pop(frame.id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(frame)

    def on_lost(self) -> None:
        """The model process is gone: fail what waits, and stop."""
        pending, self._pending = self._pending, {}
        for waiter in pending.values():
            if not waiter.done():
                waiter.set_exception(Unavailable("the server is shutting down"))
        self.stopping.set()

    async def call(self, kind: Kind, head: object, payload: list[bytes]) -> Frame:
        """Send a request; its answer.

        Raises:
            Unavailable: the model process is gone.
        """
        if self.link is None or self.link.transport is None:
            raise Unavailable("the server is shutting down")
        request_id = next(self._ids) & 0xFFFFFFFF
        waiter: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = waiter
        self.link.send(kind, request_id, head, payload)
        try:
            return await waiter
        except asyncio.CancelledError:  # the client went away: so does its request
            if self._pending.pop(request_id, None) is not None:
                self.link.send(Kind.CANCEL, request_id, None)
            raise


class ForwardingApp(HttpApp):
    """The HTTP app of a front process: body limits and compression here, answers from the
    model process."""

    def __init__(self, relay: Relay, spec: FrontSpec) -> None:
        super().__init__(Router([]), spec.max_request_bytes)
        self.relay = relay
        self.limits = RequestLimits(spec.max_tensor_elements)
        self.decode_infer = spec.decode_infer

    async def answer(self, request: Request) -> Reply:
        """Relay a decoded infer request, or the raw request."""
        decoded = self._decode(request) if self.decode_infer else None
        if decoded is not None:
            frame = await self.relay.call(Kind.INFER,
                                          *messages.infer_parts(decoded, request.headers))
            if frame.kind is Kind.RESULT:
                return infer_reply(messages.result_from(frame.head, frame.payload), decoded)
        else:
            frame = await self.relay.call(Kind.RAW, *messages.request_parts(request))
        return messages.reply_from(frame.head, frame.payload)

    def _decode(self, request: Request) -> InferRequest | None:
        """A plain infer request decoded without its model's config; None for anything else,
        including a body that fails to decode (the model process then answers it, with the
        config and the error precedence of a server without fronts)."""
        target = infer_target(request)
        if target is None:
            return None
        try:
            length = header_length(request.headers.get("inference-header-content-length"))
            if length == 0:  # a raw tensor: its shape comes from the config
                return None
            decoded = codec.decode_infer(request.body, length, *target, limits=self.limits)
        except InvalidInput:
            return None
        return None if decoded.uses_shared_memory else decoded


def infer_target(request: Request) -> tuple[str, str] | None:
    """(model, version) when ``request`` is ``POST /v2/models/{m}[/versions/{v}]/infer``."""
    if request.method != "POST" or not request.path.endswith("/infer"):
        return None
    parts = [p for p in request.path.split("/") if p]
    if len(parts) == 4 and parts[:2] == ["v2", "models"]:
        return parts[2], ""
    if len(parts) == 6 and parts[:2] == ["v2", "models"] and parts[3] == "versions":
        return parts[2], parts[4]
    return None


def run(spec: FrontSpec, index: int, listener: socket.socket, link: socket.socket) -> None:
    """A front process's main: serve until the hub says STOP or the link breaks."""
    for signum in (signal.SIGINT, signal.SIGTERM):  # a terminal's Ctrl+C, systemd's stop
        signal.signal(signum, signal.SIG_IGN)  # reach the group: the model process decides
    logging.basicConfig(level=spec.log_level.upper(), format=LOG_FORMAT)
    collector.tune()
    eventloop.run(_serve(spec, index, listener, link), spec.loop)


async def _serve(spec: FrontSpec, index: int, listener: socket.socket,
                 link_sock: socket.socket) -> None:
    from modelport.serve.http.wire import WireServer, WireSettings

    relay = Relay()
    relay.link = await open_link(link_sock, relay.on_frame, relay.on_lost)
    context = spec.tls.server_context() if spec.tls is not None else None
    server = WireServer(ForwardingApp(relay, spec),
                        WireSettings(max_head_bytes=spec.max_head_bytes), ssl=context)
    await server.start(listener)
    relay.link.send(Kind.HELLO, 0, [os.getpid()])
    log.debug("HTTP front %d (pid %d) serving", index, os.getpid())
    await relay.stopping.wait()
    await server.stop(relay.grace_s)
    relay.link.close()
    await asyncio.wait_for(relay.link.closed, 5.0)
