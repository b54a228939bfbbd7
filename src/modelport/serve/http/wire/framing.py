"""Bytes on the wire: status lines, response heads, chunk framing and the server's own errors.

Everything here is pure: it turns a status and ASGI header pairs into the bytes an HTTP/1.1
response starts with, so the exchange can join head and body into one ``transport.write``.
"""

from __future__ import annotations

import http
from dataclasses import dataclass

import orjson

Headers = list[tuple[bytes, bytes]]

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
LAST_CHUNK = b"0\r\n\r\n"


def _status_line(status: int) -> bytes:
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return f"HTTP/1.1 {status} {phrase}\r\n".encode("latin-1")


STATUS_LINES = {status: _status_line(status) for status in range(100, 600)}


def bodyless_status(status: int) -> bool:
    """Whether a response with this status never has a body (RFC 9110 §6.4.1)."""
    return status < 200 or status in (204, 304)


@dataclass(slots=True)
class Head:
    """A response head and the framing it commits the body to.

    ``content_length`` is the declared or added length (None for chunked or close-delimited
    bodies), ``chunked`` whether the server added ``transfer-encoding: chunked``, and
    ``keep_alive`` whether the connection stays open after this response.
    """

    data: bytes
    content_length: int | None
    chunked: bool
    keep_alive: bool


def build_head(status: int, headers: Headers, *, keep_alive: bool, http11: bool,
               body_length: int | None) -> Head:
    """The bytes of a response head, with the framing headers the app left out.

    Args:
        status: the HTTP status code.
        headers: the app's header pairs, written as given.
        keep_alive: whether the server means to keep the connection open.
        http11: whether the request was HTTP/1.1 (else 1.0).
        body_length: the length of the whole body when the app sent it at once, None when it
            streams; used only when the app declared no ``content-length``.

    Returns:
        the head, ending with its blank line, and the framing it declares.
    """
    parts = [STATUS_LINES.get(status) or _status_line(status)]
    length, app_close = _write_app_headers(parts, headers)
    keep_alive = keep_alive and not app_close
    chunked = False
    if length is None and not bodyless_status(status):
        if body_length is not None:
            parts.append(b"content-length: %d\r\n" % body_length)
            length = body_length
        elif http11:
            parts.append(b"transfer-encoding: chunked\r\n")
            chunked = True
        else:
            keep_alive = False  # an HTTP/1.0 body of unknown length ends when we close
    if not app_close:
        parts.append(_connection_field(keep_alive, http11))
    parts.append(b"\r\n")
    return Head(b"".join(parts), length, chunked, keep_alive)


def direct_head(status: int, fields: bytes, *, keep_alive: bool, http11: bool,
                body_length: int) -> Head:
    """The head of a whole response given at once (the direct path): the status line, the
    app's ``fields`` (complete header lines, without content-length or connection), then the
    framing ``build_head`` would add for the same response.

    Args:
        status: the HTTP status code.
        fields: header lines, each ending in CRLF.
        keep_alive: whether the server means to keep the connection open.
        http11: whether the request was HTTP/1.1 (else 1.0).
        body_length: the length of the body.
    """
    line = STATUS_LINES.get(status) or _status_line(status)
    length = None if bodyless_status(status) else body_length
    framing = b"" if length is None else b"content-length: %d\r\n" % length
    framing += _connection_field(keep_alive, http11)
    return Head(line + fields + framing + b"\r\n", length, False, keep_alive)


def _connection_field(keep_alive: bool, http11: bool) -> bytes:
    """The Connection header a response needs: close when the server closes after it,
    keep-alive on HTTP/1.0 when it does not, none otherwise."""
    if not keep_alive:
        return b"connection: close\r\n"
    return b"" if http11 else b"connection: keep-alive\r\n"


def _write_app_headers(parts: list[bytes], headers: Headers) -> tuple[int | None, bool]:
    """Append the app's headers; returns its content-length and whether it asked to close."""
    length: int | None = None
    app_close = False
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
        lowered = name.lower()
        if lowered == b"content-length":
            length = _length(value)
        elif lowered == b"connection" and b"close" in value.lower():
            app_close = True
    return length, app_close


def _length(value: bytes) -> int | None:
    text = value.strip()
    return int(text) if text.isdigit() else None


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked response body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def error_response(status: int, message: str) -> bytes:
    """A complete response the server sends on its own (malformed request, timeout, app crash).

    The body is ``{"error": message}``, the shape Open Inference Protocol clients read on every
    non-200; the connection closes after it.
    """
    body = orjson.dumps({"error": message})
    headers = [(b"content-type", b"application/json")]
    head = build_head(status, headers, keep_alive=False, http11=True, body_length=len(body))
    return head.data + body
