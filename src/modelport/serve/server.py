"""The Server: repository, model manager, HTTP and gRPC fronts, in one asyncio loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from modelport.errors import ConfigError, ModelportError
from modelport.repository.layout import Repository
from modelport.runtime import RuntimeSettings
from modelport.serve.config import ServerConfig
from modelport.serve.control import ModelControl
from modelport.serve.core import InferenceCore
from modelport.serve.manager import ModelManager
from modelport.serve.memdebug import MemoryDebugger
from modelport.serve.poller import RepositoryPoller
from modelport.serve.tracing import Tracing

log = logging.getLogger("modelport.serve")


class Server:
    """A running modelport server. ``await start()`` then ``await stop()``, or ``run()``."""

    def __init__(self, config: ServerConfig, tracer_provider: Any = None) -> None:
        self.config = config
        self.tracer_provider = tracer_provider
        self.repository_path: Path | None = None
        self.manager: ModelManager | None = None
        self.core: InferenceCore | None = None
        self.http_port: int | None = None
        self.grpc_port: int | None = None
        self._http: Any = None
        self._http_task: asyncio.Task[None] | None = None
        self._grpc: Any = None
        self._poll_task: asyncio.Task[None] | None = None
        self.metrics_port: int | None = None
        self._metrics: Any = None
        self._metrics_task: asyncio.Task[None] | None = None

    def _repository(self) -> Repository:
        path = self.config.model_repository
        if path is None:
            from modelport.repository.demo import ensure_demo_repository

            path = ensure_demo_repository()
        self.repository_path = path
        return Repository(path)

    async def start(self) -> None:
        """Bind the fronts, load models per the control mode, then report ready."""
        cfg = self.config
        repository = self._repository()
        settings = RuntimeSettings(intra_op_threads=cfg.intra_op_threads,
                                   cache_dir=cfg.model_cache_dir,
                                   shared_thread_pool=cfg.shared_thread_pool)
        self.manager = ModelManager(repository, settings, cfg.drain_timeout_s, cfg.allow_metrics)
        tracing = (Tracing(self.tracer_provider) if self.tracer_provider is not None
                   else Tracing.from_environment())
        self.core = InferenceCore(self.manager, tracing, cfg.strict_readiness)
        control = ModelControl(self.manager, cfg.model_control_mode, cfg.control_token)
        if cfg.http_port >= 0:
            await self._start_http(control)
        if cfg.grpc_port >= 0:
            await self._start_grpc(control)
        if cfg.metrics_port >= 0 and cfg.allow_metrics:
            await self._start_metrics()
        await self._load_initial(repository)
        if cfg.model_control_mode == "poll":
            poller = RepositoryPoller(self.manager, cfg.repository_poll_secs)
            poller.remember()
            self._poll_task = asyncio.get_running_loop().create_task(poller.run())
        self.core.started = True

    async def _load_initial(self, repository: Repository) -> None:
        assert self.manager is not None
        cfg = self.config
        if cfg.model_control_mode == "explicit":
            names = repository.model_names() if "*" in cfg.load_models else cfg.load_models
        else:
            names = repository.model_names()
        for name in names:  # one at a time, so each version's memory delta is its own
            try:
                await self.manager.load(name)
            except ModelportError as exc:
                log.error("model '%s' is not available: %s", name, exc)

    def _extra_routes(self) -> dict[str, Any]:
        from modelport.serve import metrics
        from modelport.serve.http.routes import Reply, Request

        manager = self.manager
        assert manager is not None

        async def scrape(req: Request) -> Reply:
            return Reply(200, metrics.render(manager), metrics.CONTENT_TYPE)

        return {"/metrics": scrape} if self.config.allow_metrics else {}

    async def _start_http(self, control: ModelControl) -> None:
        from modelport.serve.http.app import HttpApp
        from modelport.serve.http.routes import Router

        assert self.core is not None
        limit = self.config.max_request_bytes
        debug = MemoryDebugger() if self.config.debug_endpoints else None
        app = HttpApp(Router(self.core, control, self._extra_routes(), debug), limit)
        server, task, port = await _serve_asgi(app, self.config.http_address,
                                               self.config.http_port)
        self._http, self._http_task, self.http_port = server, task, port

    async def _start_metrics(self) -> None:
        from modelport.serve.http.app import HttpApp
        from modelport.serve.http.routes import PathRouter

        metrics_app = HttpApp(PathRouter(self._extra_routes()), 1024)
        self._metrics, self._metrics_task, self.metrics_port = await _serve_asgi(
            metrics_app, self.config.metrics_address, self.config.metrics_port)

    async def _start_grpc(self, control: ModelControl) -> None:
        import grpc

        from modelport.serve.grpc.service import InferenceService, grpc_receive_limit

        assert self.core is not None
        limit = self.config.max_request_bytes
        self._grpc = grpc.aio.server(options=[
            ("grpc.max_receive_message_length", grpc_receive_limit(limit)),
            ("grpc.max_send_message_length", 2**31 - 1),
            ("grpc.so_reuseport", 0),
        ])
        self._grpc.add_generic_rpc_handlers(
            InferenceService(self.core, control, limit).handlers())
        address = f"{_host(self.config.grpc_address)}:{self.config.grpc_port}"
        port = self._grpc.add_insecure_port(address)
        if port == 0:
            raise ConfigError(f"cannot bind the gRPC front to {address}")
        self.grpc_port = port
        await self._grpc.start()

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop taking requests, let in-flight ones finish, unload every model."""
        if self.core is not None:
            self.core.started = False
        if self._poll_task is not None:
            self._poll_task.cancel()
        if self._grpc is not None:
            await self._grpc.stop(grace_s)
        for server, task in ((self._http, self._http_task),
                             (self._metrics, self._metrics_task)):
            if server is not None and task is not None:
                server.should_exit = True
                await task
        if self.manager is not None:
            await self.manager.shutdown()

    async def serve_forever(self) -> None:
        """Start, print where we listen, run until SIGINT/SIGTERM, stop gracefully."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await self.start()
        self._announce()
        await stop.wait()
        log.info("shutting down")
        await self.stop()

    def run(self) -> None:
        """Blocking entry point for the command line."""
        asyncio.run(self.serve_forever())

    def _announce(self) -> None:
        assert self.manager is not None
        for row in self.manager.index():
            state = row.get("state", "UNAVAILABLE")
            detail = f" ({row['reason']})" if row.get("reason") else ""
            log.info("model %-16s version %-3s %s%s", row["name"], row.get("version", "-"),
                     state, detail)
        log.info("repository: %s", self.repository_path)
        if self.http_port is not None:
            log.info("HTTP  http://%s:%d/v2", self.config.http_address, self.http_port)
        if self.grpc_port is not None:
            log.info("gRPC  %s:%d", self.config.grpc_address, self.grpc_port)
        if self.metrics_port is not None:
            log.info("metrics http://%s:%d/metrics", self.config.metrics_address,
                     self.metrics_port)
        assert self.core is not None
        if self.core.ready:
            log.info("ready (Ctrl+C to stop)")
        else:
            waiting = ", ".join(self.manager.unready_models())
            log.warning("serving, but NOT READY: no version of %s is serving (strict "
                        "readiness; --strict-readiness false reports ready anyway) "
                        "(Ctrl+C to stop)", waiting)


async def _serve_asgi(app: Any, address: str, port: int) -> tuple[Any, asyncio.Task[None], int]:
    """Start uvicorn on a socket we bind; returns (server, its task, the bound port)."""
    import os

    import uvicorn

    sock = _bind(address, port)
    if os.environ.get("MODELPORT_HTTP_IMPL", "uvicorn") == "wire":  # to measure; see issue 12
        from types import SimpleNamespace

        from modelport.serve.http.wire import WireServer, WireSettings

        wire, flag = WireServer(app, WireSettings(idle_timeout_s=30)), SimpleNamespace()
        flag.should_exit, bound = False, await wire.start(sock)

        async def serve_until_exit() -> None:  # Server.stop sets should_exit, then awaits us
            while not flag.should_exit:
                await asyncio.sleep(0.1)
            await wire.stop(grace_s=5.0)

        return flag, asyncio.get_running_loop().create_task(serve_until_exit()), bound
    config = uvicorn.Config(app, loop="none", http="httptools", lifespan="off",
                            access_log=False, log_level="warning", server_header=False,
                            date_header=False, timeout_keep_alive=30)
    server = _QuietUvicorn(config)
    task = asyncio.get_running_loop().create_task(server.serve([sock]))
    while not server.started:
        if task.done():
            task.result()
            raise ConfigError(f"the HTTP server on {address}:{port} stopped during start-up")
        await asyncio.sleep(0.01)
    return server, task, int(sock.getsockname()[1])


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address and not address.startswith("[") else address


def _bind(address: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets when the
    # listening socket says TCP, and without it every response waits out a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot bind {address}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


class _QuietUvicorn:
    """uvicorn.Server without its own signal handling (the Server owns signals)."""

    def __new__(cls, config: Any) -> Any:
        import uvicorn

        class Quiet(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield

        return Quiet(config)
