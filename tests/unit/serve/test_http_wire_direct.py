"""The wire's direct path: a whole request goes to ``app.direct``, everything else through ASGI,
and modelport's HttpApp answers alike both ways, byte for byte.

Two servers run side by side: one serving the HttpApp (direct path), one serving the same app
behind a wrapper that hides ``direct`` (ASGI only). Each request is sent to both.
"""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import pytest
from support.wire import Client, Response, chunked, clients, get, post, serve

from modelport.errors import InvalidInput, ModelNotFound
from modelport.serve.http.app import HttpApp
from modelport.serve.http.routing import Reply, Request
from modelport.serve.http.wire.connection import DirectApp

__all__ = ["clients", "serve"]  # fixtures

Scope = dict[str, Any]


class Router:
    """Routes by path: echo (compressible, with a header length when asked), fixed statuses,
    a client error and a bug."""

    async def dispatch(self, req: Request) -> Reply:
        """Answer by the request's path."""
        if req.path == "/echo":
            length = int(req.query) if req.query.isdigit() else None
            return Reply(200, req.body or b"empty", "application/octet-stream", length,
                         compressible=True)
        if req.path == "/json":
            return Reply(200, b'{"method":"%s"}' % req.method.encode())
        if req.path == "/no-content":
            return Reply(204)
        if req.path == "/bad":
            raise InvalidInput("bad input, as the client sent it")
        if req.path == "/boom":
            raise RuntimeError("a bug")
        raise ModelNotFound(f"no route for {req.method} {req.path}")


class AsgiOnly:
    """The same app without ``direct``: the wire must use ASGI for every request."""

    def __init__(self, app: HttpApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


LIMIT = 4096


@pytest.fixture()
def pair(serve: Any, clients: Any) -> Any:
    """ask(request_bytes) -> (direct response, ASGI response), each on a fresh connection."""
    direct = serve(HttpApp(Router(), LIMIT))  # type: ignore[arg-type]
    asgi = serve(AsgiOnly(HttpApp(Router(), LIMIT)))  # type: ignore[arg-type]

    def ask(data: bytes, head_only: bool = False) -> tuple[Response, Response]:
        answers = []
        for server in (direct, asgi):
            client = clients(server.port)
            client.send(data)
            answers.append(client.response(head_only=head_only))
        return answers[0], answers[1]

    return ask


REQUESTS = {
    "get": get("/json"),
    "post": post("/echo", b"tensor bytes"),
    "post with header length": post("/echo?4", b"head+tensor"),
    "empty post": post("/echo", b""),
    "gzip body": post("/echo", gzip.compress(b"zipped" * 50), "Content-Encoding: gzip"),
    "deflate body": post("/echo", zlib.compress(b"deflated"), "Content-Encoding: Deflate"),
    "bad gzip": post("/echo", b"not gzip", "Content-Encoding: gzip"),
    "unknown encoding": post("/echo", b"x", "Content-Encoding: br"),
    "zip bomb": post("/echo", gzip.compress(b"\0" * (LIMIT * 4)), "Content-Encoding: gzip"),
    "over the limit": post("/echo", b"x" * (LIMIT + 1)),
    "deflate answer": post("/echo", b"abc" * 100, "Accept-Encoding: deflate"),
    "refused encoding": post("/echo", b"abc", "Accept-Encoding: gzip;q=0, identity"),
    "204": get("/no-content"),
    "client error": get("/bad"),
    "no route": get("/nowhere"),
    "HTTP/1.0": get("/json", version="1.0"),
    "HTTP/1.0 keep-alive": get("/json", "Connection: keep-alive", version="1.0"),
    "close": get("/json", "Connection: close"),
}


@pytest.mark.parametrize("name", list(REQUESTS))
def test_direct_and_asgi_answer_alike(pair: Any, name: str) -> None:
    """Status, headers and body are the same on the direct path as through ASGI."""
    direct, asgi = pair(REQUESTS[name])
    assert direct == asgi


def test_gzip_answers_alike(pair: Any) -> None:
    """A gzip answer (its bytes carry a timestamp) has the same headers and content."""
    direct, asgi = pair(post("/echo", b"abc" * 100, "Accept-Encoding: gzip"))
    assert direct.headers["content-encoding"] == "gzip"
    assert gzip.decompress(direct.body) == gzip.decompress(asgi.body) == b"abc" * 100
    assert direct.headers.keys() == asgi.headers.keys()


def test_head_answers_alike(pair: Any) -> None:
    """HEAD: the same head (content-length of the body not sent), no body either way."""
    direct, asgi = pair(b"HEAD /json HTTP/1.1\r\nHost: t\r\n\r\n", head_only=True)
    assert direct == asgi


def test_bug_is_500_both_ways(pair: Any) -> None:
    """A failing endpoint costs its request a 500 ``{"error"}`` on both paths."""
    direct, asgi = pair(get("/boom"))
    assert direct.status == asgi.status == 500
    assert direct.body.startswith(b'{"error":') and asgi.body.startswith(b'{"error":')


class Recorder:
    """An app that answers on both interfaces and records which one each request took."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.paths.append("asgi")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    async def direct(self, scope: Scope, body: bytes) -> tuple[int, bytes, bytes]:
        """Echo the body; a path of /fail raises."""
        if scope["path"] == "/fail":
            raise RuntimeError("a bug in the direct path")
        self.paths.append("direct")
        return 200, b"x-path: direct\r\n", body


def test_recorder_is_a_direct_app() -> None:
    """The wire recognises an app with ``direct``; a plain ASGI callable is not one."""
    assert isinstance(Recorder(), DirectApp)
    assert not isinstance(AsgiOnly(HttpApp(Router(), 1)), DirectApp)  # type: ignore[arg-type]


def test_whole_requests_go_direct(serve: Any, clients: Any) -> None:
    """Sized and bodyless requests take the direct path; chunked bodies and bodies that wait
    for ``100 Continue`` go through ASGI, each on one keep-alive connection."""
    app = Recorder()
    server = serve(app)
    client: Client = clients(server.port)
    client.send(post("/a", b"sized"))
    assert client.response().body == b"sized"
    client.send(get("/b"))
    assert client.response().headers["x-path"] == "direct"
    client.send(chunked("/c", b"chun", b"ked"))
    assert client.response().body == b"chunked"
    client.send(b"POST /d HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
                b"Expect: 100-continue\r\n\r\n")
    assert client.response().status == 100
    client.send(b"late")
    assert client.response().body == b"late"
    assert app.paths == ["direct", "direct", "asgi", "asgi"]


def test_direct_failure_is_500_and_keeps_serving(serve: Any, clients: Any) -> None:
    """An exception out of ``direct`` answers 500 and closes that connection; the server
    serves the next one."""
    server = serve(Recorder())
    client = clients(server.port)
    client.send(get("/fail"))
    failed = client.response()
    assert failed.status == 500 and b"internal error" in failed.body
    assert client.closed()
    again = clients(server.port)
    again.send(post("/ok", b"fine"))
    assert again.response().body == b"fine"


def test_pipelined_direct_requests_in_order(serve: Any, clients: Any) -> None:
    """Pipelined whole requests are answered in the order sent."""
    server = serve(Recorder())
    client = clients(server.port)
    client.send(b"".join(post(f"/{i}", str(i).encode()) for i in range(8)))
    assert [client.response().body for _ in range(8)] == [str(i).encode() for i in range(8)]
