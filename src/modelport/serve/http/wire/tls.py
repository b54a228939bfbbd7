"""TLS on the wire server: one task per accepted connection does the handshake.

The handshake runs off the accept loop, so a client that connects and stays silent (or
handshakes slowly) holds its own task for at most ``handshake_timeout_s`` and never delays the
next client. Before handshaking, the first byte is peeked: a TLS connection starts with a
handshake record (0x16); anything else is plain HTTP sent to the TLS port, answered with a
plain 400 that says to use https, then closed, so the client sees why instead of a reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable

from modelport.serve.http.wire.framing import error_response
from modelport.serve.http.wire.settings import WireSettings

log = logging.getLogger("modelport.http.wire")

TLS_HANDSHAKE_RECORD = 0x16
PLAINTEXT_REFUSAL = ("this port serves HTTPS (TLS): connect with https:// (tritonclient.http: "
                     "ssl=True)")


async def accept_tls(conn: socket.socket, protocol: Callable[[], asyncio.Protocol],
                     context: ssl.SSLContext, settings: WireSettings) -> None:
    """Hand ``conn`` to ``protocol`` once its TLS handshake succeeds; otherwise close it (a
    plain-HTTP client first gets a 400)."""
    loop = asyncio.get_running_loop()
    handed_over = False
    try:
        first = await _peek(loop, conn, settings.handshake_timeout_s)
        if first is None:
            return  # closed, or silent for the whole handshake timeout
        if first != TLS_HANDSHAKE_RECORD:
            await _refuse_plaintext(loop, conn, settings.linger_s)
            return
        await loop.connect_accepted_socket(
            protocol, conn, ssl=context, ssl_handshake_timeout=settings.handshake_timeout_s)
        handed_over = True
    except (OSError, asyncio.TimeoutError) as exc:  # ssl.SSLError is an OSError
        log.debug("TLS handshake with a client failed: %s", exc)
    finally:
        if not handed_over:
            conn.close()


async def _peek(loop: asyncio.AbstractEventLoop, conn: socket.socket,
                timeout_s: float) -> int | None:
    """The first byte the client sent, left unread; None when it closed or stayed silent."""
    readable: asyncio.Future[None] = loop.create_future()
    fd = conn.fileno()
    loop.add_reader(fd, _resolve, readable)
    try:
        await asyncio.wait_for(readable, timeout_s)
    except asyncio.TimeoutError:
        return None
    finally:
        loop.remove_reader(fd)
    try:
        data = conn.recv(1, socket.MSG_PEEK)
    except OSError:
        return None
    return data[0] if data else None


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _refuse_plaintext(loop: asyncio.AbstractEventLoop, conn: socket.socket,
                            linger_s: float) -> None:
    """Answer 400 in plain HTTP, then drain what the client still sends for a moment."""
    with contextlib.suppress(OSError):
        conn.recv(64 * 1024)  # the request head, already here: closing on unread bytes resets
    await loop.sock_sendall(conn, error_response(400, PLAINTEXT_REFUSAL))
    conn.shutdown(socket.SHUT_WR)
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(_drain(loop, conn), linger_s)


async def _drain(loop: asyncio.AbstractEventLoop, conn: socket.socket) -> None:
    while await loop.sock_recv(conn, 64 * 1024):
        pass
