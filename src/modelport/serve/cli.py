"""``modelport serve``: arguments → ServerConfig → Server. Flags use Triton's names."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from modelport.serve.restrict import GROUPS as GROUP_NAMES

EPILOG = """\
examples:
  modelport serve                                  serve the built-in demo repository
  modelport serve ./models --http-port 9000        serve your own Triton-layout repository
  modelport serve ./models --model-control-mode explicit --load-model mlp
  modelport serve ./models --model-control-mode poll --repository-poll-secs 5
  modelport serve ./models --grpc-use-ssl true --grpc-server-cert server.pem \
      --grpc-server-key server.key --http-restricted-api model-repository:admin-key=SECRET

A repository holds REPO/<model>/config.pbtxt (optional) and REPO/<model>/<version>/model.onnx.
Clients: tritonclient.http against :8000, tritonclient.grpc against :8001.
"""


def add_parser(subparsers: Any) -> None:
    """Register ``serve``."""
    p = subparsers.add_parser(
        "serve", help="serve a model repository over HTTP and gRPC (Triton-compatible)",
        description="Serve ONNX models over the Open Inference Protocol (KServe v2) with "
                    "Triton's HTTP and gRPC flavour: unmodified tritonclient works.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("repository", nargs="?", type=Path, metavar="REPO",
                   help="model repository folder (default: the generated demo repository)")
    p.add_argument("--model-repository", type=Path, dest="model_repository_flag",
                   metavar="REPO", help="same as the positional REPO (Triton's flag)")
    _network_arguments(p.add_argument_group("network"))
    _security_arguments(p.add_argument_group(
        "security", "TLS (Triton's --grpc-* flags; modelport's HTTP front takes the same words "
        "with --http-) and Triton's restricted API groups"))
    _model_arguments(p.add_argument_group("models"))
    _runtime_arguments(p.add_argument_group("runtime"))
    p.add_argument("--debug-endpoints", action="store_true",
                   help="serve /v2/debug/memory (allocation snapshots and diffs, used by "
                   "'modelport doctor memory') and /v2/debug/models; guarded by the control "
                   "token when one is set")
    p.add_argument("--trace-config", action="append", default=[], metavar="KEY=VALUE",
                   help="initial trace settings (Triton's flag): level=TIMESTAMPS|OFF, rate=N "
                   "(trace one request in N), count=N (-1: no limit); spans go to the "
                   "OTEL_TRACES_EXPORTER exporter; change them live with /v2/trace/setting")
    p.add_argument("--id", default="modelport", metavar="NAME", dest="server_id",
                   help="the server's name in server metadata (Triton's --id; default modelport)")
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    p.set_defaults(func=run)


def _network_arguments(net: Any) -> None:
    net.add_argument("--http-address", default="127.0.0.1", help="HTTP bind address "
                     "(default 127.0.0.1; use 0.0.0.0 to expose it)")
    net.add_argument("--http-port", type=int, default=8000, help="HTTP port (default 8000; "
                     "0 picks a free one, -1 disables HTTP)")
    net.add_argument("--grpc-address", default="127.0.0.1", help="gRPC bind address")
    net.add_argument("--grpc-port", type=int, default=8001, help="gRPC port (default 8001; "
                     "-1 disables gRPC)")
    net.add_argument("--metrics-address", default="127.0.0.1", help="metrics bind address")
    net.add_argument("--metrics-port", type=int, default=8002, help="Prometheus metrics port "
                     "(default 8002; -1 disables it)")
    net.add_argument("--grpc-max-calls", type=int, default=4096, metavar="N",
                     help="gRPC calls held at once (running, queued or not yet picked up); "
                     "more are refused RESOURCE_EXHAUSTED at once (default 4096)")
    net.add_argument("--max-request-size", "--http-max-input-size", type=int,
                     default=64 * 1024 * 1024, metavar="BYTES", dest="max_request_size",
                     help="largest request body accepted, after decompression (default 64 MiB)")
    net.add_argument("--max-header-size", type=int, default=64 * 1024, metavar="BYTES",
                     help="largest HTTP request line and headers together; more is answered "
                     "431 (default 64 KiB)")
    net.add_argument("--max-tensor-elements", type=int, default=1 << 30, metavar="N",
                     help="largest element count an input's shape may name, checked before "
                     "any tensor is built (default 2**30)")
    net.add_argument("--allow-client-shm", type=_boolean, default=False, metavar="BOOL",
                     help="let clients register system shared memory regions for inputs and "
                     "outputs (Triton's flag; default false: a client picks which of the "
                     "server's shared memory objects to read and write)")
    net.add_argument("--allow-metrics", type=_boolean, default=True, metavar="BOOL",
                     help="serve /metrics and keep latency histograms (default true)")


def _security_arguments(sec: Any) -> None:
    for front in ("http", "grpc"):
        name = front.upper() if front == "http" else "gRPC"
        sec.add_argument(f"--{front}-use-ssl", type=_boolean, default=False, metavar="BOOL",
                         help=f"serve {name} over TLS with --{front}-server-cert and "
                         f"--{front}-server-key (default false)")
        sec.add_argument(f"--{front}-use-ssl-mutual", type=_boolean, default=False,
                         metavar="BOOL", help="TLS that also requires a client certificate "
                         f"signed by --{front}-root-cert (mutual TLS; implies --{front}-use-ssl)")
        sec.add_argument(f"--{front}-server-cert", metavar="PEM",
                         help="the server certificate (chain), PEM")
        sec.add_argument(f"--{front}-server-key", metavar="PEM",
                         help="the server's private key, unencrypted PEM")
        sec.add_argument(f"--{front}-root-cert", metavar="PEM",
                         help="certificate(s) that sign accepted client certificates, PEM")
    sec.add_argument("--metrics-use-ssl", type=_boolean, default=False, metavar="BOOL",
                     help="serve the metrics port over TLS with the HTTP front's certificate "
                     "(and its mutual TLS setting); needs --http-use-ssl true")
    groups = ", ".join(GROUP_NAMES)
    sec.add_argument("--http-restricted-api", action="append", default=[],
                     metavar="GROUPS:KEY=VALUE",
                     help="answer the HTTP API groups only to requests with header KEY: VALUE, "
                     f"others get 403 (Triton's flag, repeatable; groups: {groups})")
    sec.add_argument("--grpc-restricted-protocol", action="append", default=[],
                     metavar="GROUPS:KEY=VALUE",
                     help="answer the gRPC groups only to calls with metadata "
                     "triton-grpc-protocol-KEY: VALUE, others get UNAVAILABLE (Triton's flag, "
                     "repeatable)")


def _tls(args: argparse.Namespace) -> dict[str, Any]:
    """http_tls, grpc_tls and metrics_tls from the TLS flags."""
    from modelport.errors import ConfigError
    from modelport.serve.tls import TlsSettings

    settings = {f"{front}_tls": TlsSettings.from_flags(
        f"--{front}", getattr(args, f"{front}_use_ssl"), getattr(args, f"{front}_use_ssl_mutual"),
        getattr(args, f"{front}_server_cert"), getattr(args, f"{front}_server_key"),
        getattr(args, f"{front}_root_cert")) for front in ("http", "grpc")}
    if args.metrics_use_ssl and settings["http_tls"] is None:
        raise ConfigError("--metrics-use-ssl serves the HTTP front's certificate: add "
                          "--http-use-ssl true with --http-server-cert and --http-server-key")
    settings["metrics_tls"] = settings["http_tls"] if args.metrics_use_ssl else None
    return settings


def _model_arguments(models: Any) -> None:
    models.add_argument("--model-control-mode", choices=("none", "poll", "explicit"),
                        default="none", help="none: load all at start; poll: also reload on "
                        "change; explicit: load only via --load-model and the load API")
    models.add_argument("--load-model", action="append", default=[], metavar="NAME",
                        help="model to load at start in explicit mode (repeatable; '*' = all)")
    models.add_argument("--repository-poll-secs", type=float, default=15.0, metavar="S",
                        help="rescan period in poll mode (default 15)")
    models.add_argument("--control-token", default=None, metavar="TOKEN",
                        help="require 'Authorization: Bearer TOKEN' on load/unload "
                        "(or set MODELPORT_CONTROL_TOKEN)")
    models.add_argument("--strict-readiness", type=_boolean, default=True, metavar="BOOL",
                        help="/v2/health/ready (and gRPC ServerReady) answer ready only when "
                        "every model asked to load has a version serving (default true; false: "
                        "ready once start-up is done)")
    models.add_argument("--drain-timeout", type=float, default=30.0, metavar="S",
                        help="how long an unloaded version may finish in-flight requests")


def _runtime_arguments(runtime: Any) -> None:
    runtime.add_argument("--intra-op-threads", type=int, default=0, metavar="N",
                         help="ONNX Runtime threads per instance (default: cores / instances)")
    runtime.add_argument("--intra-op-spinning", type=_boolean, default=False, metavar="on|off",
                         help="let ONNX Runtime's pool threads busy-wait for work between "
                         "parallel sections (default off: each CPU session has its own pool "
                         "whose threads sleep, leaving the cores to the server; on: one shared, "
                         "spinning pool, as in earlier releases)")
    runtime.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto",
                         help="the event loop: uvloop (in C, on libuv; a little faster for small "
                         "models) or asyncio's own; auto (default) takes uvloop where it is "
                         "installed")
    runtime.add_argument("--http-fronts", type=_fronts, default="auto", metavar="N|auto",
                         help="serve HTTP from N front processes that read and write the HTTP "
                         "connections beside this one, which answers the requests; 0: HTTP in "
                         "this process. auto (default): 1 where the server may use 2+ cores "
                         "(affinity and container CPU limit), else 0. For small models on 2 "
                         "cores 1 front serves ~1.4x the requests per second of 0; a lone "
                         "request pays ~0.03 ms for the hop (docs/serve.md, Tuning)")
    runtime.add_argument("--http-fronts-decode", action="store_true",
                         help="the front processes also decode plain infer requests and encode "
                         "their responses (slower on 2 cores; for many cores and large JSON "
                         "bodies)")
    runtime.add_argument("--cache-dir", type=str, default=None, metavar="DIR",
                         help="where optimized models are cached (default "
                         "$MODELPORT_CACHE_DIR or ~/.cache/modelport); '' turns the cache off")
    runtime.add_argument("--inline-below-us", type=int, default=150, metavar="US",
                         help="run batches that recently took less than this on the event loop "
                         "itself, skipping a thread hand-off (default 150; 0 never)")
    runtime.add_argument("--model-cache", type=_boolean, default=True, metavar="on|off",
                         help="reuse ONNX Runtime's optimized graphs across loads and restarts "
                         "(default on; resnet18 builds in ~3 ms instead of ~180 ms)")


def _pairs(items: list[str]) -> dict[str, str]:
    """KEY=VALUE flags as a mapping (Triton's --trace-config form)."""
    from modelport.errors import ConfigError

    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in ("level", "rate", "count", "mode"):
            raise ConfigError(f"--trace-config {item!r}: expected level=..., rate=..., count=... "
                              "or mode=opentelemetry")
        pairs[key] = value
    return pairs


def _fronts(text: str) -> int | str:
    """--http-fronts: a count, or auto (resolved when the config is built)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or auto, got '{text}'") from None


def _boolean(text: str) -> bool:
    """Triton-style boolean flag values."""
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got '{text}'")


def config_from_args(args: argparse.Namespace) -> Any:
    """Build the ServerConfig (validation happens there)."""
    from modelport.serve.config import ServerConfig, auto_http_fronts

    return ServerConfig.from_env(
        model_repository=args.model_repository_flag or args.repository,
        http_address=args.http_address, http_port=args.http_port,
        grpc_address=args.grpc_address, grpc_port=args.grpc_port,
        metrics_address=args.metrics_address, metrics_port=args.metrics_port,
        model_control_mode=args.model_control_mode, load_models=args.load_model,
        repository_poll_secs=args.repository_poll_secs,
        max_request_bytes=args.max_request_size, control_token=args.control_token,
        max_header_bytes=args.max_header_size, max_tensor_elements=args.max_tensor_elements,
        intra_op_threads=args.intra_op_threads, intra_op_spinning=args.intra_op_spinning,
        cache_dir=Path(args.cache_dir) if args.cache_dir else None,
        model_cache=args.model_cache and args.cache_dir != "",
        drain_timeout_s=args.drain_timeout, log_level=args.log_level, event_loop=args.loop,
        grpc_max_calls=args.grpc_max_calls,
        http_fronts=auto_http_fronts() if args.http_fronts == "auto" else args.http_fronts,
        http_fronts_decode=args.http_fronts_decode,
        debug_endpoints=args.debug_endpoints, allow_metrics=args.allow_metrics,
        strict_readiness=args.strict_readiness, server_id=args.server_id,
        allow_client_shm=args.allow_client_shm, inline_below_us=args.inline_below_us,
        trace_config=_pairs(args.trace_config),
        http_restricted_api=args.http_restricted_api,
        grpc_restricted_protocol=args.grpc_restricted_protocol, **_tls(args),
        shared_thread_pool=True,  # this process is the server's alone
    )


def run(args: argparse.Namespace) -> int:
    """Run the server until interrupted."""
    from modelport.serve import collector
    from modelport.serve.logsettings import LOG_FORMAT
    from modelport.serve.server import Server

    config = config_from_args(args)
    logging.basicConfig(level=config.log_level.upper(), format=LOG_FORMAT)
    collector.tune()  # this process is the server's alone
    Server(config).run()
    return 0
