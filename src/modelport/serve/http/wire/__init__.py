"""wire: a lean HTTP/1.1 server for modelport's ASGI app, on httptools and asyncio.Protocol.

Why not uvicorn: for small models the server's own per-request cost shows; uvicorn writes the
head and the body of each response separately (two syscalls). Here a response the app sends in
one ``http.response.body`` message leaves in one ``transport.write``, and the server implements
only the ASGI subset modelport's app uses (``http`` scope; ``http.request``/``http.disconnect``;
``http.response.start``/``http.response.body``).

Modules: ``server`` accepts and stops gracefully; ``connection`` parses and orders requests,
owns flow control and closing; ``request`` turns a parsed head into the ASGI scope;
``exchange`` is one request/response (the app's ``receive`` and ``send``); ``framing`` makes
the bytes; ``deadline`` is the per-connection timer; ``settings`` holds limits and timeouts.

    server = WireServer(app, WireSettings(idle_timeout_s=30))
    port = await server.start(sock)     # a socket bound by the caller
    ...
    await server.stop(grace_s=5.0)
"""

from __future__ import annotations

from modelport.serve.http.wire.server import WireServer
from modelport.serve.http.wire.settings import WireSettings

__all__ = ["WireServer", "WireSettings"]
