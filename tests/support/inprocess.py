"""Run a Server inside the test process, on its own event loop thread."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from modelport.serve.config import ServerConfig
from modelport.serve.server import Server


class InProcessServer:
    """Start with ``InProcessServer(repo, ...)``; ``stop()`` when done."""

    def __init__(self, repo: Path | None, tracer_provider: Any = None, **settings: Any) -> None:
        config = ServerConfig.from_env(model_repository=repo, http_port=0, grpc_port=0,
                                       metrics_port=-1, **settings)
        self.server = Server(config, tracer_provider=tracer_provider)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(timeout=120)

    @property
    def http_url(self) -> str:
        """host:port of the HTTP front."""
        return f"127.0.0.1:{self.server.http_port}"

    @property
    def grpc_url(self) -> str:
        """host:port of the gRPC front."""
        return f"127.0.0.1:{self.server.grpc_port}"

    def call(self, coro: Any) -> Any:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def stop(self) -> None:
        """Stop the server and its loop."""
        self.call(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)
        self.loop.close()
