"""The wire server over TLS, on real loopback sockets: handshakes off the accept loop, plain
HTTP answered with a 400 that says to use https, mutual TLS, and a stop with handshakes pending.

A WireServer runs in a background event loop with a small ASGI app that echoes the scheme;
clients are blocking sockets wrapped with ``ssl`` exactly as a client library would.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support.certs import Certs, make_certs
from support.wire import Running

from modelport.serve.http.wire import WireSettings
from modelport.serve.tls import TlsSettings


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A CA, server and client certificates."""
    return make_certs(tmp_path_factory.mktemp("certs"))


async def scheme_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers every request with the scope's scheme as JSON."""
    await receive()
    body = json.dumps({"scheme": scope["scheme"]}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture()
def serve(certs: Certs) -> Iterator[Callable[..., Running]]:
    """A factory: serve(mutual=False, **settings) -> Running, stopped after the test."""
    started: list[Running] = []

    def start(mutual: bool = False, **overrides: Any) -> Running:
        tls = TlsSettings(certs.server_cert, certs.server_key, certs.ca, mutual)
        running = Running(scheme_app, WireSettings(**{"idle_timeout_s": 5.0, **overrides}),
                          ssl=tls.server_context())
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


def _client_context(certs: Certs, cert: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certs.ca))
    if cert:
        context.load_cert_chain(certs.client_cert, certs.client_key)
    return context


def _get(port: int, context: ssl.SSLContext, timeout_s: float = 5.0) -> tuple[int, bytes]:
    """One HTTPS GET on a fresh connection: (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = _read_all(tls)
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


def _refused(port: int, context: ssl.SSLContext) -> bool:
    """Whether the server ends the connection without answering (with TLS 1.3 the client
    learns only when it reads: an alert or the connection closing)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return _read_all(tls) == b""
    except (ssl.SSLError, ConnectionError):
        return True


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_https_request_is_served_as_https(serve: Callable[..., Running], certs: Certs) -> None:
    """A client that trusts the CA gets its answer; the app sees scheme https."""
    running = serve()
    assert _get(running.port, _client_context(certs)) == (200, b'{"scheme": "https"}')


def test_plain_http_gets_a_400_saying_https(serve: Callable[..., Running], certs: Certs) -> None:
    """Plain HTTP to the TLS port is answered in plain HTTP: 400, use https; then closed."""
    running = serve()
    with socket.create_connection(("127.0.0.1", running.port), timeout=5) as sock:
        sock.sendall(b"GET /v2 HTTP/1.1\r\nHost: x\r\n\r\n")
        data = _read_all(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert "serves HTTPS" in json.loads(body)["error"]
    assert _get(running.port, _client_context(certs))[0] == 200


def test_silent_clients_do_not_delay_others(serve: Callable[..., Running],
                                            certs: Certs) -> None:
    """Connections that never handshake hold no one up: a fresh client is answered at once."""
    running = serve(handshake_timeout_s=30.0)
    silent = [socket.create_connection(("127.0.0.1", running.port)) for _ in range(5)]
    try:
        time.sleep(0.2)  # every silent connection has been accepted
        started = time.monotonic()
        assert _get(running.port, _client_context(certs))[0] == 200
        assert time.monotonic() - started < 5.0
    finally:
        for sock in silent:
            sock.close()


def test_silent_client_is_closed_after_the_handshake_timeout(
        serve: Callable[..., Running]) -> None:
    """A connection that never starts its handshake is closed after handshake_timeout_s."""
    running = serve(handshake_timeout_s=0.3)
    with socket.create_connection(("127.0.0.1", running.port), timeout=5) as sock:
        started = time.monotonic()
        assert sock.recv(1) == b""
        assert time.monotonic() - started < 4.0


def test_broken_handshake_is_dropped_cleanly(serve: Callable[..., Running],
                                             certs: Certs) -> None:
    """A TLS record header followed by garbage ends that connection only."""
    running = serve()
    with socket.create_connection(("127.0.0.1", running.port), timeout=5) as sock:
        sock.sendall(b"\x16\x03\x01\x00\x05hello" + b"\x00" * 64)
        _read_all_or_reset(sock)  # closed (perhaps after a TLS alert), within the timeout
    assert _get(running.port, _client_context(certs))[0] == 200


def test_client_that_does_not_trust_the_server_fails(serve: Callable[..., Running],
                                                     certs: Certs) -> None:
    """A client verifying against another CA refuses the certificate; the server carries on."""
    running = serve()
    with pytest.raises(ssl.SSLCertVerificationError):
        _get(running.port, ssl.create_default_context(cafile=str(certs.rogue_ca)))
    assert _get(running.port, _client_context(certs))[0] == 200


def test_mutual_tls_needs_a_client_certificate(serve: Callable[..., Running],
                                               certs: Certs) -> None:
    """With mutual TLS a client without a certificate (or with one from another CA) is
    refused; a client certificate signed by the root is served."""
    running = serve(mutual=True)
    assert _refused(running.port, _client_context(certs))
    rogue = _client_context(certs)
    rogue.load_cert_chain(certs.rogue_client_cert, certs.rogue_client_key)
    assert _refused(running.port, rogue)
    assert _get(running.port, _client_context(certs, cert=True)) == (200, b'{"scheme": "https"}')


def test_stop_with_handshakes_pending(serve: Callable[..., Running]) -> None:
    """Stopping cancels handshakes in progress and closes their sockets promptly."""
    running = serve(handshake_timeout_s=30.0)
    with socket.create_connection(("127.0.0.1", running.port), timeout=5) as sock:
        time.sleep(0.2)
        started = time.monotonic()
        running.stop(grace_s=1.0)
        assert time.monotonic() - started < 5.0
        assert _read_all_or_reset(sock) == b""


def _read_all_or_reset(sock: socket.socket) -> bytes:
    """What the peer sends until it closes; a reset counts as closed."""
    try:
        return _read_all(sock)
    except ConnectionResetError:
        return b""
