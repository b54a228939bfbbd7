"""A request head as the app sees it: the ASGI scope, and what the headers say about the body."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import httptools

_ASGI = {"version": "3.0", "spec_version": "2.3"}


class BadRequest(Exception):
    """A request the server answers itself, with ``status``, and then closes."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True)
class RequestHead:
    """The scope of one request, and the framing of its body.

    ``has_body`` is False when the request declares neither a length nor chunks (no body at
    all); ``content_length`` is None for chunked bodies.
    """

    scope: dict[str, Any]
    content_length: int | None
    has_body: bool
    expect_continue: bool


def read_head(version: str, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]],
              client: tuple[str, int] | None, server: tuple[str, int] | None,
              scheme: str = "http") -> RequestHead:
    """The ASGI ``http`` scope and body framing of a parsed request head.

    Args:
        version: the HTTP version, as httptools reports it ("1.1").
        method: the request method.
        target: the request target as sent (origin form ``/path?query``, or absolute form).
        headers: the header pairs, names already lowercased.
        client: the peer's (host, port).
        server: our (host, port).
        scheme: "https" on a TLS connection.

    Raises:
        BadRequest: 505 for versions other than 1.0 and 1.1, 400 for a malformed target.
    """
    if version not in ("1.1", "1.0"):
        raise BadRequest(505, f"HTTP/{version} is not supported; use HTTP/1.1")
    raw_path, query = _split_target(target)
    path = raw_path.decode("latin-1")
    scope = {
        "type": "http",
        "asgi": _ASGI,
        "http_version": version,
        "method": method.decode("ascii"),
        "scheme": scheme,
        "path": unquote(path) if "%" in path else path,
        "raw_path": raw_path,
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": client,
        "server": server,
    }
    length, chunked, expect = _body_framing(headers)
    return RequestHead(scope, length, length is not None or chunked, expect)


def _body_framing(headers: list[tuple[bytes, bytes]]) -> tuple[int | None, bool, bool]:
    """Content-Length, whether the body is chunked, and whether the client expects 100."""
    length: int | None = None
    chunked = expect = False
    for name, value in headers:
        if name == b"content-length":
            length = int(value)  # httptools has checked its digits
        elif name == b"transfer-encoding":
            chunked = True
        elif name == b"expect":
            expect = value.lower() == b"100-continue"
    return length, chunked, expect


def _split_target(target: bytes) -> tuple[bytes, bytes]:
    if target.startswith(b"/"):
        raw_path, _, query = target.partition(b"?")
        return raw_path.partition(b"#")[0], query.partition(b"#")[0]
    try:
        parsed = httptools.parse_url(target)
    except httptools.HttpParserInvalidURLError:
        raise BadRequest(400, "malformed request target") from None
    return parsed.path or b"/", parsed.query or b""


def address(info: Any) -> tuple[str, int] | None:
    """(host, port) from a transport's ``peername``/``sockname``, None for other families."""
    if isinstance(info, tuple) and len(info) >= 2:
        return str(info[0]), int(info[1])
    return None
