"""ServerConfig: the one place for the server's defaults and their validation."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from modelport import cpus
from modelport.environment import Environment, default_cache_dir
from modelport.errors import ConfigError
from modelport.serve.eventloop import LoopChoice
from modelport.serve.eventloop import resolve as resolve_loop
from modelport.serve.restrict import GRPC_KEY_PREFIX, Restrictions
from modelport.serve.tls import TlsSettings

ControlMode = Literal["none", "poll", "explicit"]
CONTROL_MODES = ("none", "poll", "explicit")


MAX_HTTP_FRONTS = 64


def auto_http_fronts(cores: int | None = None) -> int:
    """``--http-fronts auto``, the command line's default: one front process where the server
    may use two or more cores (its affinity and container quota, ``modelport.cpus``), none on
    one core, where a second process would only take turns with the first.

    One front that relays requests raw measured 1.4x the requests per second of one process
    for a small model on 2 cores (benchmarks/README.md). ``ServerConfig()`` itself keeps 0: a
    server embedded in Python code starts no processes unless asked.
    """
    return 1 if (cpus.usable_cores() if cores is None else cores) >= 2 else 0


@dataclass
class ServerConfig:
    """Settings of one ``modelport serve`` process. Build it from Python or from the CLI.

    Attributes:
        model_repository: the repository folder; None serves the generated demo repository.
        http_address / grpc_address / metrics_address: interfaces to bind (loopback default).
        http_port / grpc_port / metrics_port: 0 picks a free port; -1 disables that front.
        model_control_mode: none (load everything at start), poll (also watch for changes),
            explicit (load only what --load-model names and the load API asks for).
        load_models: models to load at start in explicit mode; "*" means all.
        repository_poll_secs: rescan period in poll mode.
        max_request_bytes: largest accepted request body (after decompression).
        grpc_max_calls: gRPC calls held at once (running, queued, or received and not yet
            picked up by a handler); more are refused RESOURCE_EXHAUSTED at once. gRPC's own
            defaults instead cancel calls silently past 1,000 waiting in a burst.
        max_tensor_elements: largest element count an input's shape may name (zero dims do
            not hide the others); refused before any tensor is built.
        max_header_bytes: largest HTTP request line and headers together (431 beyond).
        control_token: when set, load/unload calls need "Authorization: Bearer <token>".
        intra_op_threads: ONNX Runtime threads per instance; 0 shares the cores out.
        intra_op_spinning: let ONNX Runtime's pool threads busy-wait between parallel
            sections (ONNX Runtime's own default). False (the server's default) gives each CPU
            session its own pool whose threads sleep instead, leaving the cores to the event
            loop; a model's config can still ask for spinning (docs/serve.md, Tuning).
        cache_dir: where the optimized-model cache and the generated demo repository live;
            None means ~/.cache/modelport (``from_env`` reads $MODELPORT_CACHE_DIR and
            $XDG_CACHE_HOME).
        model_cache: keep ONNX Runtime's optimized graphs on disk so later loads skip the
            optimization (False turns it off; so does MODELPORT_NO_CACHE with ``from_env``).
        drain_timeout_s: how long an unloaded version may finish in-flight work.
        http_fronts: serve HTTP from this many front processes that speak HTTP and relay
            each request to this process (0, the default here: HTTP in this process;
            serve/relay). The command line's default is ``auto_http_fronts()``.
        http_fronts_decode: the front processes also decode plain infer requests and encode
            their responses (default: they relay every request as it came, which measured
            faster on 2 cores; decoding there may pay with many cores and large JSON bodies).
        event_loop: the event loop ``Server.run`` starts: auto (uvloop where installed, else
            asyncio's), asyncio or uvloop (modelport.serve.eventloop).
        shared_thread_pool: one ONNX Runtime thread pool for all sessions, new versions built
            at background priority (smooth reloads). The command line turns it on; leave it off
            when the server shares its process with other ONNX Runtime sessions.
        strict_readiness: report the server ready only when every model it was asked to load
            has a version serving (Triton's --strict-readiness, default true); False: ready as
            soon as start-up is done.
        allow_metrics: serve /metrics and keep latency histograms (Triton's --allow-metrics).
        debug_endpoints: serve /v2/debug/... (allocation tracing, per-version memory); they
            need the control token when one is set.
        extra_backends: operator backends, name -> "module:Class".
        inline_below_us: batches that recently took less run on the event loop (0: never).
        traces_exporter / service_name: OpenTelemetry span exporter (otlp, console, none) and
            service name.
        shutdown_grace_s: how long the fronts let requests in flight finish on stop.
        server_id: the name server metadata reports (Triton's --id).
        allow_client_shm: let clients register system shared memory regions (Triton's
            --allow-client-shm, off by default).
        trace_config: initial trace settings, Triton's --trace-config keys (level, rate, count).
        http_tls / grpc_tls / metrics_tls: serve that front over TLS with these PEM files
            (mutual TLS when their ``mutual`` is set); None serves plaintext.
        http_restricted_api / grpc_restricted_protocol: Triton's restricted API groups,
            ``"<groups>:<header>=<value>"`` each (--http-restricted-api,
            --grpc-restricted-protocol); gRPC headers take Triton's ``triton-grpc-protocol-``
            prefix.

    ``ServerConfig.from_env()`` fills in what the environment says (see
    ``modelport.environment``); a ``ServerConfig()`` built directly reads no environment.
    """

    model_repository: Path | None = None
    http_address: str = "127.0.0.1"
    http_port: int = 8000
    grpc_address: str = "127.0.0.1"
    grpc_port: int = 8001
    metrics_address: str = "127.0.0.1"
    metrics_port: int = 8002
    model_control_mode: ControlMode = "none"
    load_models: list[str] = field(default_factory=list)
    repository_poll_secs: float = 15.0
    max_request_bytes: int = 64 * 1024 * 1024
    grpc_max_calls: int = 4096
    max_tensor_elements: int = 1 << 30
    max_header_bytes: int = 64 * 1024
    control_token: str | None = None
    intra_op_threads: int = 0
    intra_op_spinning: bool = False
    cache_dir: Path | None = None
    model_cache: bool = True
    drain_timeout_s: float = 30.0
    event_loop: LoopChoice = "auto"
    http_fronts: int = 0
    http_fronts_decode: bool = False
    log_level: str = "info"
    debug_endpoints: bool = False
    allow_metrics: bool = True
    strict_readiness: bool = True
    shared_thread_pool: bool = False
    extra_backends: dict[str, str] = field(default_factory=dict)
    inline_below_us: int = 150
    traces_exporter: str = "none"
    service_name: str = "modelport"
    shutdown_grace_s: float = 5.0
    server_id: str = "modelport"
    allow_client_shm: bool = False
    trace_config: dict[str, str] = field(default_factory=dict)
    http_tls: TlsSettings | None = None
    grpc_tls: TlsSettings | None = None
    metrics_tls: TlsSettings | None = None
    http_restricted_api: list[str] = field(default_factory=list)
    grpc_restricted_protocol: list[str] = field(default_factory=list)

    @classmethod
    def from_env(cls, **settings: Any) -> ServerConfig:
        """A config from the process environment, with ``settings`` taking precedence (an
        explicit None for cache_dir or control_token means: take the environment's)."""
        env = Environment.read()
        given = {k: v for k, v in settings.items()
                 if not (v is None and k in ("cache_dir", "control_token"))}
        from_environment = {
            "cache_dir": env.cache_dir, "model_cache": env.model_cache,
            "control_token": env.control_token, "extra_backends": env.extra_backends,
            "traces_exporter": env.traces_exporter, "service_name": env.service_name}
        if given.get("model_cache") is not None:
            given["model_cache"] = given["model_cache"] and env.model_cache
        return cls(**{**from_environment, **given})

    def __post_init__(self) -> None:
        if self.model_control_mode not in CONTROL_MODES:
            raise ConfigError(f"--model-control-mode must be one of {', '.join(CONTROL_MODES)}")
        for name in ("http_port", "grpc_port", "metrics_port"):
            port = getattr(self, name)
            if not -1 <= port <= 65535:
                raise ConfigError(f"--{name.replace('_', '-')} {port} is not a port (0-65535, "
                                  "or -1 to disable)")
        if self.load_models and self.model_control_mode != "explicit":
            raise ConfigError("--load-model needs --model-control-mode explicit")
        if self.repository_poll_secs <= 0:
            raise ConfigError("--repository-poll-secs must be positive")
        if self.max_request_bytes < 1024:
            raise ConfigError("--max-request-size must be at least 1024 bytes")
        if self.grpc_max_calls < 1:
            raise ConfigError("--grpc-max-calls must be at least 1")
        if self.max_header_bytes < 1024:
            raise ConfigError("--max-header-size must be at least 1024 bytes")
        if self.max_tensor_elements < 1:
            raise ConfigError("--max-tensor-elements must be at least 1")
        resolve_loop(self.event_loop)  # an unknown or missing loop fails here, early
        if not 0 <= self.http_fronts <= MAX_HTTP_FRONTS:
            raise ConfigError(f"--http-fronts must be between 0 and {MAX_HTTP_FRONTS}, not "
                              f"{self.http_fronts}")
        if self.http_fronts_decode and not self.http_fronts:
            raise ConfigError("--http-fronts-decode needs front processes: add --http-fronts N "
                              "(N >= 1)")
        if self.inline_below_us < 0:
            raise ConfigError("inline_below_us must be >= 0")
        _ = (self.http_restrictions, self.grpc_restrictions)  # a bad flag fails here, early
        if self.cache_dir is None:
            self.cache_dir = default_cache_dir()

    @property
    def http_restrictions(self) -> Restrictions:
        """The HTTP front's restricted API groups.

        Raises:
            ConfigError: a malformed --http-restricted-api.
        """
        return Restrictions.parse(self.http_restricted_api, "--http-restricted-api")

    @property
    def grpc_restrictions(self) -> Restrictions:
        """The gRPC front's restricted protocol groups (keys with Triton's prefix).

        Raises:
            ConfigError: a malformed --grpc-restricted-protocol.
        """
        return Restrictions.parse(self.grpc_restricted_protocol, "--grpc-restricted-protocol",
                                  GRPC_KEY_PREFIX)

    @property
    def model_cache_dir(self) -> Path | None:
        """The optimized-model cache folder, or None when the cache is off."""
        return self.cache_dir if self.model_cache else None

    def repository_path(self) -> Path:
        """The repository to serve: the given one, or the demo repository (generated into the
        cache folder on first use)."""
        if self.model_repository is not None:
            return self.model_repository
        from modelport.repository.demo import ensure_demo_repository

        assert self.cache_dir is not None
        return ensure_demo_repository(self.cache_dir)

    def replace(self, **changes: Any) -> ServerConfig:
        """A copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)
