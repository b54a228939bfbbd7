"""The wire server's limits and timeouts, in one frozen value."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WireSettings:
    """Limits and timeouts of the HTTP/1.1 server.

    Attributes:
        idle_timeout_s: a keep-alive connection with no request for this long is closed; the
            same bound applies to receiving a request's head and to each wait for body bytes
            (a stalled body is answered 408).
        linger_s: after the server closes its side (a malformed request, a response sent
            before the body was read), how long it drains and drops what the client still
            sends, so the client reads the response instead of a connection reset.
        max_head_bytes: the request line and headers together; more is answered 431.
        body_high_water: unread request-body bytes buffered per request before reading pauses.
        max_pipeline: pipelined requests queued per connection before reading pauses.
        max_body_chunks: non-empty chunks of one chunked request body; more is answered 400
            (Triton's bound, 65536: many tiny chunks cost far more than their bytes).
        backlog: the listen backlog.
        handshake_timeout_s: with TLS, how long a new connection may take to start and finish
            its handshake before it is closed.
    """

    idle_timeout_s: float = 30.0
    linger_s: float = 2.0
    max_head_bytes: int = 64 * 1024
    body_high_water: int = 64 * 1024
    max_pipeline: int = 16
    max_body_chunks: int = 65536
    backlog: int = 2048
    handshake_timeout_s: float = 10.0
