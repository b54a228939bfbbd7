"""ServerConfig: the one place for the server's defaults and their validation."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from modelport.errors import ConfigError

ControlMode = Literal["none", "poll", "explicit"]
CONTROL_MODES = ("none", "poll", "explicit")


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
        control_token: when set, load/unload calls need "Authorization: Bearer <token>".
        intra_op_threads: ONNX Runtime threads per instance; 0 shares the cores out.
        cache_dir: where the optimized-model cache lives; None means the default place
            ($MODELPORT_CACHE_DIR, else $XDG_CACHE_HOME/modelport, else ~/.cache/modelport).
        model_cache: keep ONNX Runtime's optimized graphs on disk so later loads skip the
            optimization (False, or MODELPORT_NO_CACHE set, turns it off).
        drain_timeout_s: how long an unloaded version may finish in-flight work.
        shared_thread_pool: one ONNX Runtime thread pool for all sessions, new versions built
            at background priority (smooth reloads). The command line turns it on; leave it off
            when the server shares its process with other ONNX Runtime sessions.
        strict_readiness: report the server ready only when every model it was asked to load
            has a version serving (Triton's --strict-readiness, default true); False: ready as
            soon as start-up is done.
        allow_metrics: serve /metrics and keep latency histograms (Triton's --allow-metrics).
        debug_endpoints: serve /v2/debug/... (allocation tracing, per-version memory); they
            need the control token when one is set.
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
    control_token: str | None = None
    intra_op_threads: int = 0
    cache_dir: Path | None = None
    model_cache: bool = True
    drain_timeout_s: float = 30.0
    log_level: str = "info"
    debug_endpoints: bool = False
    allow_metrics: bool = True
    strict_readiness: bool = True
    shared_thread_pool: bool = False

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
        if self.control_token is None:
            self.control_token = os.environ.get("MODELPORT_CONTROL_TOKEN") or None
        if os.environ.get("MODELPORT_NO_CACHE") is not None:
            self.model_cache = False
        if self.cache_dir is None:
            self.cache_dir = default_cache_dir()

    @property
    def model_cache_dir(self) -> Path | None:
        """The optimized-model cache folder, or None when the cache is off."""
        return self.cache_dir if self.model_cache else None


def default_cache_dir() -> Path:
    """$MODELPORT_CACHE_DIR, else $XDG_CACHE_HOME/modelport, else ~/.cache/modelport."""
    if os.environ.get("MODELPORT_CACHE_DIR"):
        return Path(os.environ["MODELPORT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "modelport"
