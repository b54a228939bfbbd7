"""The Server: repository, model manager, core and fronts, in one asyncio loop.

Start-up and shutdown mirror each other: the fronts start one by one under an exit stack
(HTTP, gRPC, metrics), then models load per the control mode, then the poller starts and the
core reports started; ``stop`` undoes those steps in reverse, and a start-up that fails unwinds
what it had already started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path
from typing import Any

from modelport.backends import BackendCatalog
from modelport.errors import ModelportError
from modelport.repository.layout import Repository
from modelport.runtime import RuntimeSettings
from modelport.serve import eventloop
from modelport.serve.config import ServerConfig
from modelport.serve.control import ModelControl
from modelport.serve.core import InferenceCore
from modelport.serve.fronts import Front, GrpcFront, HttpFront, pending_call_options
from modelport.serve.limits import RequestLimits
from modelport.serve.local import LocalModels
from modelport.serve.logsettings import LogSettings
from modelport.serve.manager import ModelManager
from modelport.serve.poller import RepositoryPoller
from modelport.serve.shm import SharedMemory
from modelport.serve.tls import TlsSettings
from modelport.serve.tracing import Tracing

log = logging.getLogger("modelport.serve")

# Past --drain-timeout, how long the server gives its fronts to deliver the 503s of the
# requests it gave up on before it exits without them.
ABANDON_GRACE_S = 1.0


class Server:
    """A running modelport server. ``await start()`` then ``await stop()``, or ``run()``."""

    def __init__(self, config: ServerConfig, tracer_provider: Any = None) -> None:
        self.config = config
        self.tracer_provider = tracer_provider
        self.repository_path: Path | None = None
        self.manager: ModelManager | None = None
        self.core: InferenceCore | None = None
        self.control: ModelControl | None = None
        self.ports: dict[str, int] = {}  # front name -> bound port
        self._stack: contextlib.AsyncExitStack | None = None
        # set when stop() gave up on requests still running past --drain-timeout: their
        # runtime threads cannot be interrupted, so run() exits without joining them
        self.abandoned = False
        self._unloading: asyncio.Future[None] | None = None
        self._deadline: float | None = None  # loop time by which stop() is to be done

    @property
    def http_port(self) -> int | None:
        """The HTTP front's port, once started (None when disabled)."""
        return self.ports.get("HTTP")

    @property
    def grpc_port(self) -> int | None:
        """The gRPC front's port, once started (None when disabled)."""
        return self.ports.get("gRPC")

    @property
    def metrics_port(self) -> int | None:
        """The metrics front's port, once started (None when disabled)."""
        return self.ports.get("metrics")

    async def start(self) -> None:
        """Bind the fronts, load models per the control mode, then report started.

        Raises:
            ConfigError: a front cannot bind; nothing stays started.
        """
        cfg = self.config
        self.repository_path = cfg.repository_path()
        repository = Repository(self.repository_path)
        logs = LogSettings()
        manager, core = self._build_core(repository, logs)
        self.control = ModelControl(manager, cfg.model_control_mode, cfg.control_token)
        async with contextlib.AsyncExitStack() as stack:
            stack.callback(logs.close)
            stack.callback(core.shm.close)
            stack.push_async_callback(self._unload_all)
            for front in self._fronts():
                self.ports[front.name] = await front.start()
                stack.push_async_callback(self._stop_front, front)
            await self._load_initial(repository)
            if cfg.model_control_mode == "poll":
                poller = RepositoryPoller(manager, cfg.repository_poll_secs)
                poller.remember()
                task = asyncio.get_running_loop().create_task(poller.run())
                stack.callback(task.cancel)
            core.started = True
            stack.push_async_callback(self._quiesce)
            self._stack = stack.pop_all()

    def _build_core(self, repository: Repository, logs: LogSettings,
                    ) -> tuple[ModelManager, InferenceCore]:
        """The model manager and the inference core, from the configuration."""
        cfg = self.config
        models = LocalModels()  # how models call models (BLS), bound to the core below
        settings = RuntimeSettings(intra_op_threads=cfg.intra_op_threads,
                                   intra_op_spinning=cfg.intra_op_spinning,
                                   cache_dir=cfg.model_cache_dir,
                                   shared_thread_pool=cfg.shared_thread_pool,
                                   inline_below_us=cfg.inline_below_us, models=models)
        self.manager = manager = ModelManager(
            repository, settings, BackendCatalog(cfg.extra_backends), cfg.drain_timeout_s,
            cfg.allow_metrics, cfg.model_control_mode != "explicit")
        tracing = (Tracing(self.tracer_provider) if self.tracer_provider is not None
                   else Tracing.from_settings(cfg.traces_exporter, cfg.service_name,
                                              cfg.trace_config))
        self.core = core = InferenceCore(manager, tracing, cfg.strict_readiness,
                                         cfg.server_id, SharedMemory(cfg.allow_client_shm), logs,
                                         RequestLimits(cfg.max_tensor_elements))
        models.bind(core, asyncio.get_running_loop())
        return manager, core

    def http_app(self) -> Any:
        """The HTTP front's ASGI app (after ``start``): every route the HTTP port serves,
        for driving the server in-process (``httpx.ASGITransport``) without a socket."""
        from modelport.serve.http.app import HttpApp
        from modelport.serve.http.endpoints import OipEndpoints, debug_routes
        from modelport.serve.http.openapi import openapi_routes
        from modelport.serve.http.restricted import restrict_routes
        from modelport.serve.http.routing import Router
        from modelport.serve.http.settings_routes import settings_routes
        from modelport.serve.http.shm_routes import shm_routes
        from modelport.serve.memdebug import MemoryDebugger

        assert self.core is not None and self.control is not None, "start() the server first"
        routes = [*OipEndpoints(self.core, self.control).routes(), *shm_routes(self.core.shm),
                  *settings_routes(self.core), *self._metrics_routes(), *openapi_routes()]
        if self.config.debug_endpoints:
            routes += debug_routes(self.core, self.control, MemoryDebugger())
        restrictions = self.config.http_restrictions
        if restrictions:
            routes = restrict_routes(routes, restrictions)
        return HttpApp(Router(routes), self.config.max_request_bytes)

    def _metrics_routes(self) -> list[Any]:
        from modelport.serve import metrics
        from modelport.serve.http.routing import Params, Reply, Request, Route

        manager = self.manager

        async def render(req: Request, p: Params) -> Reply:
            assert manager is not None
            return Reply(200, metrics.render(manager), metrics.CONTENT_TYPE)

        return [Route("GET", "/metrics", render)] if self.config.allow_metrics else []

    def _fronts(self) -> list[Front]:
        from modelport.serve.grpc.restricted import RestrictionInterceptor
        from modelport.serve.grpc.service import InferenceService, grpc_receive_limit
        from modelport.serve.http.app import HttpApp
        from modelport.serve.http.routing import Router

        cfg = self.config
        assert self.core is not None and self.control is not None
        fronts: list[Front] = []
        if cfg.http_port >= 0:
            fronts.append(self._http_front())
        if cfg.grpc_port >= 0:
            service = InferenceService(self.core, self.control, cfg.max_request_bytes)
            options = [("grpc.max_receive_message_length",
                        grpc_receive_limit(cfg.max_request_bytes)),
                       ("grpc.max_send_message_length", 2**31 - 1),
                       *pending_call_options(cfg.grpc_max_calls)]
            restrictions = cfg.grpc_restrictions
            interceptors = [RestrictionInterceptor(restrictions)] if restrictions else []
            fronts.append(GrpcFront(service.handlers(), cfg.grpc_address, cfg.grpc_port,
                                    options, cfg.grpc_tls, interceptors,
                                    max_calls=cfg.grpc_max_calls))
        if cfg.metrics_port >= 0 and cfg.allow_metrics:
            app = HttpApp(Router(self._metrics_routes()), 1024)
            fronts.append(HttpFront("metrics", app, cfg.metrics_address, cfg.metrics_port,
                                    cfg.metrics_tls))
        return fronts

    def _http_front(self) -> Front:
        """The HTTP front: in this process, or ``--http-fronts`` front processes."""
        cfg = self.config
        if cfg.http_fronts == 0:
            return HttpFront("HTTP", self.http_app(), cfg.http_address, cfg.http_port,
                             cfg.http_tls, cfg.max_header_bytes)
        from modelport.serve.relay.front import FrontSpec
        from modelport.serve.relay.hub import RelayFront

        assert self.core is not None
        spec = FrontSpec(cfg.max_request_bytes, cfg.max_header_bytes, cfg.max_tensor_elements,
                         cfg.http_tls, eventloop.resolve(cfg.event_loop), cfg.log_level,
                         decode_infer=(cfg.http_fronts_decode
                                       and cfg.http_restrictions.get("inference") is None))
        return RelayFront(self.http_app(), self.core, cfg.http_address, cfg.http_port, spec,
                          cfg.http_fronts)

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

    async def _quiesce(self) -> None:
        """Shutdown's first step: readiness false, new requests refused (503 / UNAVAILABLE),
        requests in flight finish within --drain-timeout; past it they are answered 503."""
        assert self.core is not None and self.manager is not None
        core, timeout_s = self.core, self.config.drain_timeout_s
        self._deadline = asyncio.get_running_loop().time() + timeout_s
        core.started = False
        core.inflight.close()
        if core.inflight.count:
            log.info("waiting up to %gs (--drain-timeout) for %d request(s) in flight",
                     timeout_s, core.inflight.count)
        if await core.inflight.wait_idle(timeout_s):
            return
        log.warning("%d request(s) still running after --drain-timeout %gs: answering them "
                    "503 and exiting without waiting for the runtime", core.inflight.count,
                    timeout_s)
        self.abandoned = True
        self.manager.drain_timeout_s = 0.0
        self._unloading = asyncio.ensure_future(self.manager.shutdown())
        await core.inflight.wait_idle(ABANDON_GRACE_S)  # the 503s reach the fronts

    def _remaining_s(self) -> float:
        """Time left before the --drain-timeout deadline (never less than the abandon grace:
        what is cut short still needs a moment to be answered)."""
        if self._deadline is None:
            return self.config.drain_timeout_s
        return max(self._deadline - asyncio.get_running_loop().time(), ABANDON_GRACE_S)

    async def _stop_front(self, front: Front) -> None:
        # by now requests in flight are answered; what may remain are control calls (a load)
        await front.stop(min(self.config.shutdown_grace_s, self._remaining_s()))

    async def _unload_all(self) -> None:
        assert self.manager is not None
        if self.abandoned:  # _quiesce began it, and a stuck runtime call never ends
            return
        unloading = asyncio.ensure_future(self.manager.shutdown())
        done, _ = await asyncio.wait([unloading], timeout=self._remaining_s())
        if not done:  # a model load that does not end (a hung initialize)
            log.warning("a model load is still running after --drain-timeout %gs: exiting "
                        "without it", self.config.drain_timeout_s)
            self.abandoned = True
            self._unloading = unloading

    async def stop(self) -> None:
        """Stop taking requests, let in-flight ones finish, unload every model: start-up's
        steps in reverse."""
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    async def serve_forever(self, exit_if_abandoned: bool = False) -> None:
        """Start, print where we listen, run until SIGINT/SIGTERM, stop gracefully.

        Args:
            exit_if_abandoned: when requests were still running past --drain-timeout, end
                the process at once (``os._exit(0)``) instead of waiting for their runtime
                threads, which nothing can interrupt (the command line's choice).
        """
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
        if self.abandoned and exit_if_abandoned:
            logging.shutdown()
            os._exit(0)

    def run(self) -> None:
        """Blocking entry point for the command line, on the configured event loop."""
        eventloop.run(self.serve_forever(exit_if_abandoned=True),
                      eventloop.resolve(self.config.event_loop))

    def _announce(self) -> None:
        assert self.manager is not None and self.core is not None
        for row in self.manager.index():
            state = row.state or "UNAVAILABLE"
            detail = f" ({row.reason})" if row.reason else ""
            log.info("model %-16s version %-3s %s%s", row.name, row.version or "-", state,
                     detail)
        log.info("repository: %s", self.repository_path)
        log.info("event loop: %s", eventloop.name_of(asyncio.get_running_loop()))
        cfg = self.config
        if self.http_port is not None:
            log.info("HTTP  %s://%s:%d/v2%s", _scheme(cfg.http_tls), cfg.http_address,
                     self.http_port, _tls_note(cfg.http_tls))
        if self.grpc_port is not None:
            log.info("gRPC  %s:%d%s", cfg.grpc_address, self.grpc_port, _tls_note(cfg.grpc_tls))
        if self.metrics_port is not None:
            log.info("metrics %s://%s:%d/metrics%s", _scheme(cfg.metrics_tls),
                     cfg.metrics_address, self.metrics_port, _tls_note(cfg.metrics_tls))
        for front, restrictions in (("HTTP", cfg.http_restrictions),
                                    ("gRPC", cfg.grpc_restrictions)):
            for group, restriction in restrictions.by_group.items():
                log.info("%s %s: restricted to requests with header '%s'", front, group,
                         restriction.header)
        if self.core.ready:
            log.info("ready (Ctrl+C to stop)")
        else:
            log.warning("serving, but NOT READY: no version of %s is serving (strict "
                        "readiness; --strict-readiness false reports ready anyway) "
                        "(Ctrl+C to stop)", ", ".join(self.manager.unready_models()))


def _scheme(tls: TlsSettings | None) -> str:
    return "http" if tls is None else "https"


def _tls_note(tls: TlsSettings | None) -> str:
    return "" if tls is None else f" ({tls.describe()})"
