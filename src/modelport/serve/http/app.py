"""ASGI plumbing: read the body within limits, decompress, route, turn errors into JSON."""

from __future__ import annotations

import gzip
import logging
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from modelport.errors import InferenceError, InvalidInput, PayloadTooLarge
from modelport.serve.faults import internal_error
from modelport.serve.http.routing import Reply, Request, Router
from modelport.serve.http.wire.framing import bodyless_status

log = logging.getLogger("modelport.http")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class HttpApp:
    """The whole HTTP front as one ASGI callable."""

    def __init__(self, router: Router, max_request_bytes: int) -> None:
        self.router = router
        self.max_request_bytes = max_request_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        headers = _headers(scope)
        try:
            body = await self._read_body(headers, receive)
        except Exception as exc:  # a bug must cost one request, never the server
            reply = failed(exc, f"{scope['method']} {scope['path']}")
        else:
            reply = await self.reply_to(_request(scope, headers, body))
        await _send(send, reply, headers.get("accept-encoding", ""))

    async def direct(self, scope: Scope, body: bytes) -> tuple[int, bytes, bytes]:
        """The wire's direct call for a request whose whole body is read: the same answer
        as the ASGI interface gives, as (status, header lines, body). The wire calls it only
        for a body framed by its Content-Length, so checking that length checks the body."""
        # the wire lowercases header names as it parses them
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            self._check_declared(headers)
            body = self._decoded(headers, body)
        except Exception as exc:  # a bug must cost one request, never the server
            reply = failed(exc, f"{scope['method']} {scope['path']}")
        else:
            reply = await self.reply_to(_request(scope, headers, body))
        data, encoding = _encoded(reply, headers.get("accept-encoding", ""))
        return reply.status, _fields(reply, encoding), data

    async def reply_to(self, request: Request) -> Reply:
        """The reply to a request whose body is read: errors become ``{"error"}`` replies."""
        try:
            return await self.answer(request)
        except Exception as exc:  # a bug must cost one request, never the server
            return failed(exc, f"{request.method} {request.path}")

    async def answer(self, request: Request) -> Reply:
        """Route the request (a subclass may answer it some other way)."""
        return await self.router.dispatch(request)

    async def _read_body(self, headers: dict[str, str], receive: Receive) -> bytes:
        limit = self.max_request_bytes
        self._check_declared(headers)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(_too_large("more than " + str(limit), limit))
            if chunk:
                chunks.append(chunk)
            if len(chunks) > MAX_CHUNKS:
                raise InvalidInput(f"Chunked request body exceeds maximum of {MAX_CHUNKS} "
                                   "non-empty chunks. Send fewer or larger HTTP chunks.")
            if not message.get("more_body", False):
                break
        return self._decoded(headers, chunks[0] if len(chunks) == 1 else b"".join(chunks))

    def _check_declared(self, headers: dict[str, str]) -> None:
        """Refuse a body whose declared length is over the limit before reading it."""
        limit = self.max_request_bytes
        declared = headers.get("content-length")
        if (
            declared is not None
            and declared.isascii()
            and declared.isdigit()
            and int(declared) > limit
        ):
            raise PayloadTooLarge(_too_large(declared, limit))

    def _decoded(self, headers: dict[str, str], body: bytes) -> bytes:
        """The body after its Content-Encoding."""
        encoding = headers.get("content-encoding")
        if encoding is None:
            return body
        encoding = encoding.strip().lower()
        if encoding in ("gzip", "deflate"):
            return _decompress(body, encoding, self.max_request_bytes)
        if encoding not in ("", "identity"):
            raise InvalidInput(f"unsupported Content-Encoding '{encoding}' (use gzip or deflate)")
        return body


def _headers(scope: Scope) -> dict[str, str]:
    """The request's headers by lowercased name (the last of repeated ones)."""
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _request(scope: Scope, headers: dict[str, str], body: bytes) -> Request:
    return Request(scope["method"], scope["path"], headers, body,
                   scope.get("query_string", b"").decode("latin-1"))


def _decompress(body: bytes, encoding: str, limit: int) -> bytes:
    wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise InvalidInput(f"body is not valid {encoding} data: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(_too_large(f"more than {limit} (decompressed)", limit))
    if not inflater.eof:
        raise InvalidInput(f"{encoding} body is truncated")
    return out


MAX_CHUNKS = 65536  # Triton's bound on the chunks of one request body


def _too_large(size: str, limit: int) -> str:
    """Triton's words for an oversized body, then which flag raises the limit."""
    return (f"request body size of {size} bytes exceeds the maximum allowed input size of "
            f"{limit} bytes. Use --max-request-size (or Triton's --http-max-input-size) to "
            "increase the limit.")


def failed(exc: Exception, where: str) -> Reply:
    """The reply to a request that raised ``exc`` (call it in the ``except`` block): the
    error's own status and words for an ``InferenceError``, else a logged 500."""
    if isinstance(exc, InferenceError):
        return error_reply(exc.http_status, str(exc))
    return error_reply(500, internal_error(log, where))


def error_reply(status: int, message: str) -> Reply:
    """A non-200 reply: tritonclient reads only ``{"error": ...}``."""
    return Reply(status, orjson.dumps({"error": message}))


async def _send(send: Send, reply: Reply, accept_encoding: str) -> None:
    body, encoding = _encoded(reply, accept_encoding)
    headers = [(b"content-type", reply.content_type.encode())]
    if reply.header_length is not None:
        headers.append((b"inference-header-content-length", str(reply.header_length).encode()))
    if encoding:
        headers.append((b"content-encoding", encoding.encode()))
    if not bodyless_status(reply.status):  # RFC 9110: never on 1xx, 204 or 304
        headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _encoded(reply: Reply, accept_encoding: str) -> tuple[bytes, str | None]:
    """The reply's body as sent, and its Content-Encoding (None: as is)."""
    body = reply.body
    encoding = _pick_encoding(accept_encoding) if body and reply.compressible else None
    if encoding == "gzip":
        return gzip.compress(body, compresslevel=1), encoding
    if encoding == "deflate":
        return zlib.compress(body, 1), encoding
    return body, None


def _fields(reply: Reply, encoding: str | None) -> bytes:
    """The reply's header lines for the direct path (the wire adds the framing)."""
    fields = _CONTENT_TYPES.get(reply.content_type)
    if fields is None:
        fields = b"content-type: %s\r\n" % reply.content_type.encode()
    if reply.header_length is not None:
        fields += b"inference-header-content-length: %d\r\n" % reply.header_length
    if encoding:
        fields += b"content-encoding: %s\r\n" % encoding.encode()
    return fields


_CONTENT_TYPES = {kind: b"content-type: %s\r\n" % kind.encode()
                  for kind in ("application/json", "application/octet-stream")}


def _pick_encoding(accept: str) -> str | None:
    if not accept:
        return None
    offered = set()
    for part in accept.split(","):
        coding, _, params = part.partition(";")
        quality = params.strip().lower()
        if quality.startswith("q=") and _quality(quality[2:]) == 0:
            continue  # q=0 means "not acceptable"
        offered.add(coding.strip().lower())
    for encoding in ("gzip", "deflate"):
        if encoding in offered:
            return encoding
    return None


def _quality(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
