"""The wire HTTP/1.1 server over real loopback sockets, driven by raw socket clients.

Each test starts a WireServer on 127.0.0.1 in a background event loop with a small ASGI app
(or modelport's real HttpApp where body limits matter), writes bytes exactly as a client (or a
broken client) would, and reads the responses as bytes.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.wire import Client, Running, chunked, clients, get, post, serve

from modelport.serve.http.app import HttpApp
from modelport.serve.http.routing import Reply, Request
from modelport.serve.http.wire import WireSettings
from modelport.serve.http.wire.connection import HttpConnection
from modelport.serve.http.wire.request import BadRequest, read_head

__all__ = ["clients", "serve"]  # fixtures

Scope = dict[str, Any]
App = Callable[..., Any]


# -- apps ----------------------------------------------------------------------------------


async def read_body(receive: Any) -> tuple[bytes, bool]:
    """The whole request body, and whether the client disconnected first."""
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return body, True
        body += message["body"]
        if not message["more_body"]:
            return body, False


async def echo(scope: Scope, receive: Any, send: Any) -> None:
    """Answers with what it saw; ``?sleep=S`` waits S seconds first."""
    body, _ = await read_body(receive)
    query = dict(parse_qsl(scope["query_string"].decode()))
    await asyncio.sleep(float(query.get("sleep", 0)))
    seen = {
        "method": scope["method"], "path": scope["path"], "raw_path": scope["raw_path"].decode(),
        "query": scope["query_string"].decode(), "version": scope["http_version"],
        "headers": [[k.decode(), v.decode()] for k, v in scope["headers"]],
        "body": body.decode("latin-1"), "client": scope["client"], "server": scope["server"],
    }
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps(seen).encode()})


class EchoRouter:
    """A Router for the real HttpApp: answers with the request body."""

    async def dispatch(self, req: Request) -> Reply:
        """Echo the body."""
        return Reply(200, req.body, "application/octet-stream")


def limited(limit: int) -> HttpApp:
    """modelport's HttpApp with a body limit, echoing bodies."""
    return HttpApp(EchoRouter(), limit)  # type: ignore[arg-type]


# -- the request head (pure) ---------------------------------------------------------------


@pytest.mark.parametrize(("target", "path", "raw", "query"), [
    (b"/a%2Fb%20c?x=%20#frag", "/a/b c", b"/a%2Fb%20c", b"x=%20"),
    (b"http://host:8000/v2/models?x=1", "/v2/models", b"/v2/models", b"x=1"),
    (b"/", "/", b"/", b""),
])
def test_read_head_target(target: bytes, path: str, raw: bytes, query: bytes) -> None:
    """Origin- and absolute-form targets give the decoded path, raw path and query."""
    head = read_head("1.1", b"GET", target, [], None, None)
    assert (head.scope["path"], head.scope["raw_path"], head.scope["query_string"]) == (
        path, raw, query)
    assert not head.has_body


def test_read_head_body_framing() -> None:
    """Content-Length, chunking and 100-continue are read from the lowercased headers."""
    head = read_head("1.0", b"POST", b"/", [(b"content-length", b"12"),
                                            (b"expect", b"100-Continue")], None, None)
    assert (head.content_length, head.has_body, head.expect_continue) == (12, True, True)
    chunked = read_head("1.1", b"POST", b"/", [(b"transfer-encoding", b"chunked")], None, None)
    assert (chunked.content_length, chunked.has_body) == (None, True)


@pytest.mark.parametrize(("version", "target", "status"), [
    ("2.0", b"/", 505), ("1.1", b"http://[bad", 400)])
def test_read_head_refuses(version: str, target: bytes, status: int) -> None:
    """Unsupported versions and unparsable targets are refused with their status."""
    with pytest.raises(BadRequest) as caught:
        read_head(version, b"GET", target, [], None, None)
    assert caught.value.status == status


# -- keep-alive and framing ------------------------------------------------------------------


def test_keep_alive_serves_many_requests(serve: Any, clients: Any) -> None:
    """HTTP/1.1 keeps the connection: two requests, two answers, no Connection header."""
    server = serve(echo)
    client = clients(server.port)
    for path in ("/a", "/b"):
        client.send(get(path))
        reply = client.response()
        assert reply.status == 200 and json.loads(reply.body)["path"] == path
        assert "connection" not in reply.headers
        assert reply.headers["content-length"] == str(len(reply.body))


def test_scope(serve: Any, clients: Any) -> None:
    """The scope carries method, decoded path, raw path, query, lowercased headers, addresses."""
    server = serve(echo)
    client = clients(server.port)
    client.send(get("/v2/models/a%20b/infer?x=1&y=2", "X-Thing: Value"))
    seen = json.loads(client.response().body)
    assert seen["method"] == "GET" and seen["version"] == "1.1"
    assert seen["path"] == "/v2/models/a b/infer"
    assert seen["raw_path"] == "/v2/models/a%20b/infer"
    assert seen["query"] == "x=1&y=2"
    assert ["x-thing", "Value"] in seen["headers"]
    assert seen["server"] == ["127.0.0.1", server.port]
    assert seen["client"][0] == "127.0.0.1"


def test_one_write_per_response(serve: Any, clients: Any, monkeypatch: Any) -> None:
    """A response sent in one body message leaves in one transport write: head and body."""
    writes: list[bytes] = []
    original = HttpConnection.write

    def spy(self: HttpConnection, data: bytes) -> None:
        writes.append(data)
        original(self, data)

    monkeypatch.setattr(HttpConnection, "write", spy)
    server = serve(limited(1 << 20))
    client = clients(server.port)
    for _ in range(3):
        client.send(post("/x", b"payload"))
        assert client.response().body == b"payload"
    assert len(writes) == 3
    assert all(w.startswith(b"HTTP/1.1 200 OK\r\n") and w.endswith(b"\r\n\r\npayload")
               for w in writes)


def test_pipelined_requests_answered_in_order(serve: Any, clients: Any) -> None:
    """Pipelined requests are answered in the order sent, even when the first is slowest."""
    server = serve(echo)
    client = clients(server.port)
    client.send(get("/1?sleep=0.3") + post("/2", b"two") + get("/3?sleep=0.1") + get("/4"))
    paths = [json.loads(client.response().body)["path"] for _ in range(4)]
    assert paths == ["/1", "/2", "/3", "/4"]


def test_many_pipelined_requests_with_backpressure(serve: Any, clients: Any) -> None:
    """Far more pipelined requests than the queue holds are all answered, in order."""
    server = serve(echo, max_pipeline=4)
    client = clients(server.port)
    client.send(b"".join(post(f"/{i}", b"x" * 1000) for i in range(200)))
    paths = [json.loads(client.response().body)["path"] for _ in range(200)]
    assert paths == [f"/{i}" for i in range(200)]


def test_chunked_request_body(serve: Any, clients: Any) -> None:
    """A chunked body reaches the app whole; chunk extensions and trailers are accepted."""
    server = serve(echo)
    client = clients(server.port)
    client.send(chunked("/c", b"hello ", b"chunked ", b"world"))
    assert json.loads(client.response().body)["body"] == "hello chunked world"
    client.send(b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"3;ext=1\r\nabc\r\n0\r\nTrailer: yes\r\n\r\n")
    assert json.loads(client.response().body)["body"] == "abc"


@settings(max_examples=30, deadline=None)
@given(body=st.binary(max_size=5000), cuts=st.lists(st.integers(0, 5000), max_size=6))
def test_chunked_body_any_split(body: bytes, cuts: list[int]) -> None:
    """Any body split into any chunks, sent in pieces, arrives unchanged."""
    points = sorted({0, len(body), *(c for c in cuts if c <= len(body))})
    pieces = [body[a:b] for a, b in itertools.pairwise(points)]
    running = Running(limited(1 << 20), WireSettings())
    client = Client(running.port)
    try:
        data = chunked("/c", *pieces)
        for start in range(0, len(data), 777):  # arrives in arbitrary TCP-sized bits
            client.send(data[start:start + 777])
        assert client.response().body == body
    finally:
        client.close()
        running.stop()


def test_head_has_length_but_no_body(serve: Any, clients: Any) -> None:
    """HEAD gets the headers a GET would, without the body; the next request follows."""
    server = serve(echo)
    client = clients(server.port)
    client.send(b"HEAD /h HTTP/1.1\r\nHost: t\r\n\r\n" + get("/after"))
    head = client.response(head_only=True)
    assert head.status == 200 and int(head.headers["content-length"]) > 0
    assert json.loads(client.response().body)["path"] == "/after"


async def streaming(scope: Scope, receive: Any, send: Any) -> None:
    """Streams three parts without a content-length."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    for part in (b"one,", b"two,", b"three"):
        await send({"type": "http.response.body", "body": part, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


def test_streamed_response_is_chunked(serve: Any, clients: Any) -> None:
    """A streamed response without a length is chunked on HTTP/1.1 and the connection stays."""
    server = serve(streaming)
    client = clients(server.port)
    for _ in range(2):
        client.send(get("/s"))
        reply = client.response()
        assert reply.headers["transfer-encoding"] == "chunked" and reply.body == b"one,two,three"


def test_streamed_response_http10_ends_with_close(serve: Any, clients: Any) -> None:
    """On HTTP/1.0 a streamed response without a length is delimited by closing."""
    server = serve(streaming)
    client = clients(server.port)
    client.send(get("/s", "Connection: keep-alive", version="1.0"))
    reply = client.response()
    assert reply.headers["connection"] == "close" and reply.body == b"one,two,three"


# -- connection management ---------------------------------------------------------------------


def test_connection_close_request(serve: Any, clients: Any) -> None:
    """``Connection: close`` is answered with ``connection: close`` and the server closes;
    a request pipelined after it is ignored."""
    server = serve(echo)
    client = clients(server.port)
    client.send(get("/a", "Connection: close") + get("/b"))
    reply = client.response()
    assert json.loads(reply.body)["path"] == "/a"
    assert reply.headers["connection"] == "close"
    assert client.closed()


def test_http10_without_keep_alive_closes(serve: Any, clients: Any) -> None:
    """HTTP/1.0 without keep-alive gets one answer, then the connection closes."""
    server = serve(echo)
    client = clients(server.port)
    client.send(get("/a", version="1.0"))
    reply = client.response()
    assert reply.status == 200 and json.loads(reply.body)["version"] == "1.0"
    assert client.closed()


def test_http10_keep_alive(serve: Any, clients: Any) -> None:
    """HTTP/1.0 with ``Connection: keep-alive`` is told so and keeps the connection."""
    server = serve(echo)
    client = clients(server.port)
    for path in ("/a", "/b"):
        client.send(get(path, "Connection: keep-alive", version="1.0"))
        reply = client.response()
        assert reply.headers["connection"] == "keep-alive"
        assert json.loads(reply.body)["path"] == path


def test_idle_keep_alive_timeout(serve: Any, clients: Any) -> None:
    """A keep-alive connection idle longer than the timeout is closed by the server."""
    server = serve(echo, idle_timeout_s=0.3)
    client = clients(server.port)
    client.send(get("/a"))
    assert client.response().status == 200
    started = time.monotonic()
    assert client.closed()
    assert 0.2 < time.monotonic() - started < 3


def test_half_open_client_is_closed_and_blocks_nobody(serve: Any, clients: Any) -> None:
    """A client that sends half a request head and goes quiet is closed after the timeout,
    and other clients are served meanwhile."""
    server = serve(echo, idle_timeout_s=0.5)
    stuck = clients(server.port)
    stuck.send(b"GET /slow HTTP/1.1\r\nHost: t\r\nX-Partial: ")
    other = clients(server.port)
    for _ in range(20):
        other.send(get("/fast"))
        assert other.response().status == 200
    assert stuck.closed()


def test_slow_body_blocks_nobody(serve: Any, clients: Any) -> None:
    """A client stuck in the middle of its body does not delay other clients."""
    server = serve(echo)
    slow = clients(server.port)
    slow.send(b"POST /slow HTTP/1.1\r\nContent-Length: 100\r\n\r\npartial")
    other = clients(server.port)
    started = time.monotonic()
    for _ in range(20):
        other.send(post("/fast", b"x"))
        assert other.response().status == 200
    assert time.monotonic() - started < 2
    slow.send(b"y" * 93)
    assert json.loads(slow.response().body)["body"] == "partial" + "y" * 93


def test_stalled_body_is_408(serve: Any, clients: Any) -> None:
    """A body that stops arriving for the timeout is answered 408 and the connection closed."""
    server = serve(echo, idle_timeout_s=0.3)
    client = clients(server.port)
    client.send(b"POST /slow HTTP/1.1\r\nContent-Length: 100\r\n\r\npartial")
    reply = client.response()
    assert reply.status == 408 and "stalled" in json.loads(reply.body)["error"]
    assert client.closed()


def test_tcp_nodelay_on_accepted_sockets(serve: Any, clients: Any) -> None:
    """Accepted sockets have TCP_NODELAY (no delayed-ACK wait on small responses)."""
    server = serve(echo)
    client = clients(server.port)
    client.send(get("/"))
    client.response()
    (connection,) = server.connections()
    assert connection.transport is not None
    sock = connection.transport.get_extra_info("socket")
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_half_closed_client_still_gets_its_answer(serve: Any, clients: Any) -> None:
    """A client that shuts its sending side after the request still reads the response."""
    server = serve(echo)
    client = clients(server.port)
    client.send(get("/a?sleep=0.1"))
    client.sock.shutdown(socket.SHUT_WR)
    assert json.loads(client.response().body)["path"] == "/a"
    assert client.closed()


# -- client disconnects ------------------------------------------------------------------------


def disconnect_recorder() -> tuple[App, threading.Event]:
    """An app that reads until it sees ``http.disconnect``, and the event it sets then."""
    seen = threading.Event()

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        _, gone = await read_body(receive)
        while not gone:  # body complete: the next message is the disconnect
            gone = (await receive())["type"] == "http.disconnect"
        seen.set()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"too late"})

    return app, seen


def test_disconnect_mid_body_reaches_app(serve: Any, clients: Any) -> None:
    """A client that closes in the middle of its body: the app gets ``http.disconnect``."""
    app, seen = disconnect_recorder()
    server = serve(app)
    client = clients(server.port)
    client.send(b"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nhalf")
    time.sleep(0.1)
    client.close()
    assert seen.wait(5)


def test_disconnect_while_app_works_reaches_app(serve: Any, clients: Any) -> None:
    """A client that closes while the app is working: the app's next receive is the
    disconnect, and its late answer is dropped without harm."""
    app, seen = disconnect_recorder()
    server = serve(app)
    client = clients(server.port)
    client.send(post("/", b"whole"))
    time.sleep(0.1)
    client.close()
    assert seen.wait(5)
    assert not server.connections() or time.sleep(0.2) or not server.connections()


# -- expect: 100-continue ------------------------------------------------------------------------


def test_expect_100_continue(serve: Any, clients: Any) -> None:
    """``Expect: 100-continue`` gets ``100 Continue`` when the app reads the body."""
    server = serve(echo)
    client = clients(server.port)
    client.send(b"POST /e HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    interim = client.response()
    assert interim.status == 100
    client.send(b"hello")
    assert json.loads(client.response().body)["body"] == "hello"


def test_expect_100_continue_refused_early(serve: Any, clients: Any) -> None:
    """A body over the limit, announced with ``Expect: 100-continue``, is refused with 413
    before any 100, and the connection closes (the client never sent the body)."""
    server = serve(limited(100))
    client = clients(server.port)
    client.send(b"POST /e HTTP/1.1\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n")
    reply = client.response()
    assert reply.status == 413 and "100 bytes" in json.loads(reply.body)["error"]
    assert reply.headers["connection"] == "close"
    assert client.closed()


# -- limits -----------------------------------------------------------------------------------


def test_413_small_rest_keeps_connection(serve: Any, clients: Any) -> None:
    """A declared body over the limit is 413; a small unread rest is dropped and the same
    connection serves the next request."""
    server = serve(limited(100))
    client = clients(server.port)
    client.send(post("/big", b"x" * 5000) + post("/ok", b"fine"))
    first = client.response()
    assert first.status == 413 and "connection" not in first.headers
    assert client.response().body == b"fine"


def test_413_large_rest_closes_without_reading_it(serve: Any, clients: Any) -> None:
    """A body over the limit whose rest is large is answered 413 at once and the connection
    closed; the server does not wait for (or buffer) the rest."""
    server = serve(limited(1000), linger_s=0.2)
    client = clients(server.port)
    client.send(b"POST /big HTTP/1.1\r\nContent-Length: 1000000000\r\n\r\n" + b"x" * 100_000)
    reply = client.response()
    assert reply.status == 413 and reply.headers["connection"] == "close"
    assert client.closed()


def test_endless_chunked_body_is_413(serve: Any, clients: Any) -> None:
    """A chunked body that never ends is answered 413 once past the limit; the server then
    stops reading and closes, so the client's sending fails soon."""
    server = serve(limited(200_000), linger_s=0.2)
    client = clients(server.port)
    client.send(b"POST /big HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
    piece = b"4000\r\n" + b"x" * 0x4000 + b"\r\n"
    deadline = time.monotonic() + 10
    while not select.select([client.sock], [], [], 0)[0] and time.monotonic() < deadline:
        client.send(piece)
    reply = client.response()
    assert reply.status == 413 and reply.headers["connection"] == "close"
    with pytest.raises(OSError):
        while time.monotonic() < deadline:
            client.send(piece)
    assert time.monotonic() < deadline


def test_request_head_too_large_is_431(serve: Any, clients: Any) -> None:
    """A request head over the limit is answered 431 and the connection closed."""
    server = serve(echo, max_head_bytes=1000)
    client = clients(server.port)
    client.send(get("/", "X-Big: " + "a" * 2000))
    assert client.response().status == 431
    assert client.closed()


# -- malformed requests ---------------------------------------------------------------------------


@pytest.mark.parametrize("request_bytes", [
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3\r\nabc\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
], ids=["request-line", "header", "length-and-chunked", "two-lengths", "negative-length",
        "bad-chunk", "obs-fold"])
def test_malformed_request_is_400_and_close(serve: Any, clients: Any,
                                            request_bytes: bytes) -> None:
    """A malformed request (including smuggling shapes) is 400 with a JSON error, then close."""
    server = serve(echo)
    client = clients(server.port)
    client.send(request_bytes)
    reply = client.response()
    assert reply.status == 400 and reply.headers["connection"] == "close"
    assert "malformed HTTP request" in json.loads(reply.body)["error"]
    assert client.closed()


def test_malformed_after_good_pipelined_request(serve: Any, clients: Any) -> None:
    """A good request pipelined before a malformed one is answered first, then 400, then close."""
    server = serve(echo)
    client = clients(server.port)
    client.send(get("/good?sleep=0.1") + b"NOT HTTP AT ALL\r\n\r\n")
    assert json.loads(client.response().body)["path"] == "/good"
    assert client.response().status == 400
    assert client.closed()


def test_unsupported_version_is_505(serve: Any, clients: Any) -> None:
    """A request line with HTTP/2.0 is answered 505."""
    server = serve(echo)
    client = clients(server.port)
    client.send(get("/", version="2.0"))
    assert client.response().status == 505
    assert client.closed()


def test_upgrade_is_answered_as_http_then_closed(serve: Any, clients: Any) -> None:
    """An Upgrade request is answered as plain HTTP/1.1 and the connection then closed."""
    server = serve(echo)
    client = clients(server.port)
    client.send(get("/u", "Connection: Upgrade", "Upgrade: h2c") + b"\x00binary")
    assert json.loads(client.response().body)["path"] == "/u"
    assert client.closed()


# -- app failures ------------------------------------------------------------------------------


def test_app_crash_is_500(serve: Any, clients: Any) -> None:
    """An app that raises before answering costs that request a 500, not the server."""

    async def crash(scope: Scope, receive: Any, send: Any) -> None:
        raise ValueError("bug")

    server = serve(crash)
    client = clients(server.port)
    client.send(get("/"))
    reply = client.response()
    assert reply.status == 500 and "error" in json.loads(reply.body)
    assert client.closed()
    assert clients(server.port).send(get("/")) is None  # still accepting


# -- flow control ---------------------------------------------------------------------------------


def test_send_waits_while_client_does_not_read(serve: Any, clients: Any) -> None:
    """A big streamed response to a client that is not reading makes ``send`` wait
    (the write buffer stays bounded); the client then reads every byte."""
    parts_sent: list[int] = []
    part = b"z" * (1 << 20)

    async def big(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"%d" % (64 * len(part)))]})
        for i in range(64):
            await send({"type": "http.response.body", "body": part, "more_body": i < 63})
            parts_sent.append(i)

    server = serve(big)
    client = clients(server.port, timeout_s=20)
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    client.send(get("/big"))
    time.sleep(0.5)
    assert len(parts_sent) < 32  # blocked on a full buffer, not 64 MiB queued in memory
    assert client.response().body == part * 64


# -- graceful shutdown -------------------------------------------------------------------------


def test_graceful_stop_finishes_in_flight_and_closes_idle(serve: Any, clients: Any) -> None:
    """Stop lets a request in flight finish, closes idle keep-alive connections at once,
    and refuses new connections."""
    server = serve(echo)
    idle = clients(server.port)
    idle.send(get("/idle"))
    idle.response()
    busy = clients(server.port)
    busy.send(get("/busy?sleep=0.5"))
    time.sleep(0.1)
    stop = threading.Thread(target=server.stop, args=(5.0,))
    started = time.monotonic()
    stop.start()
    assert idle.closed()
    reply = busy.response()
    assert json.loads(reply.body)["path"] == "/busy" and reply.headers["connection"] == "close"
    stop.join(10)
    assert time.monotonic() - started < 3
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1)


def test_stop_drops_requests_past_grace(serve: Any, clients: Any) -> None:
    """A request still running when the grace period ends is dropped; stop returns."""
    server = serve(echo)
    client = clients(server.port)
    client.send(get("/stuck?sleep=30"))
    time.sleep(0.1)
    started = time.monotonic()
    server.stop(grace_s=0.3)
    assert time.monotonic() - started < 10  # far below the 30 s the request would take
    assert client.closed()


# -- fuzzing -------------------------------------------------------------------------------------

TOKENS = [b"GET ", b"POST ", b"HEAD ", b"/v2", b"/", b"?q=1", b" HTTP/1.1", b" HTTP/1.0",
          b"\r\n", b"\r\n\r\n", b"Content-Length: 5", b"Content-Length: 0",
          b"Transfer-Encoding: chunked", b"Expect: 100-continue", b"Connection: close",
          b"Connection: keep-alive", b"Host: t", b"5\r\nhello\r\n", b"0\r\n\r\n", b"hello",
          b":", b" ", b"\x00", b"\xff"]


def test_fuzzed_requests_never_hang_or_break_the_server(caplog: Any) -> None:
    """Byte streams built from HTTP fragments get only well-formed responses, the connection
    always ends once the client stops sending, and the server keeps serving."""
    running = Running(limited(1 << 16), WireSettings(idle_timeout_s=1.0, linger_s=0.2))

    @settings(max_examples=150, deadline=None)
    @given(parts=st.lists(st.one_of(st.sampled_from(TOKENS), st.binary(max_size=8)),
                          max_size=40))
    def check(parts: list[bytes]) -> None:
        with socket.create_connection(("127.0.0.1", running.port), timeout=5) as sock:
            try:
                sock.sendall(b"".join(parts))
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                return  # the server already answered and closed: fine
            data = b""
            try:
                while chunk := sock.recv(65536):
                    data += chunk
            except ConnectionResetError:
                pass
        for line in data.split(b"\r\n"):
            if line.startswith(b"HTTP/"):
                # no 5xx but 505, RFC 9110's answer to a version other than 1.0 and 1.1
                assert re.fullmatch(rb"HTTP/1\.1 ([1-4]\d\d|505) [A-Za-z -]*", line), line

    try:
        check()
        client = Client(running.port)
        client.send(post("/after", b"still serving"))
        assert client.response().body == b"still serving"
        client.close()
    finally:
        running.stop()
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
