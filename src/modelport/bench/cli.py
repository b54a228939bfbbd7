"""``modelport bench``: argument parsing into config objects; the work happens in ``command``.

modelport bench MODEL [--runtime R,...] [--batch-size 1,8] [--scenario S] [outputs]
modelport bench --url http://127.0.0.1:8000 --model resnet18 [--concurrency 1,4,16]
modelport bench compare A.json B.json
modelport bench --list-runtimes
"""

from __future__ import annotations

import argparse
from typing import Any

from modelport.errors import ConfigError

_SCENARIOS = ("singlestream", "multistream", "server", "offline")


def int_list(text: str) -> tuple[int, ...]:
    """Parse '1,8,32' into (1, 8, 32)."""
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas: {text}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers: {text}")
    return values


def float_list(text: str) -> tuple[float, ...]:
    """Parse '10,50.5' into (10.0, 50.5)."""
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas: {text}") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive numbers: {text}")
    return values


def add_parser(subparsers: Any) -> None:
    """Register ``modelport bench``."""
    p = subparsers.add_parser(
        "bench",
        help="benchmark a model on every runtime, MLPerf scenarios, or load an OIP server",
        description=(
            "Run MODEL (an .onnx file or a demo repository model) on every available runtime, "
            "each in its own process, and compare latency, throughput, start-up and numerical "
            "agreement with ONNX Runtime fp32. With --url, drive an Open Inference Protocol "
            "server instead. 'modelport bench compare A.json B.json' compares two results."
        ),
    )
    p.add_argument("target", nargs="*", metavar="MODEL", help="model, or: compare A.json B.json")
    g = p.add_argument_group("runtimes and measurement")
    g.add_argument(
        "--runtime",
        "-r",
        default="",
        metavar="LIST",
        help="runtimes, e.g. onnxruntime,openvino@fp32",
    )
    g.add_argument("--list-runtimes", action="store_true", help="show runtimes and why not")
    g.add_argument(
        "--batch-size", "-b", type=int_list, default=(1,), metavar="LIST", help="e.g. 1,8"
    )
    g.add_argument(
        "--threads", type=int, default=0, metavar="N", help="intra-op threads (default: all cores)"
    )
    g.add_argument(
        "--warmup", type=int, default=5, metavar="N", help="unrecorded calls (default 5)"
    )
    g.add_argument(
        "--min-count", type=int, default=10, metavar="N", help="minimum measured calls (10)"
    )
    g.add_argument(
        "--min-duration", type=float, default=2.0, metavar="S", help="minimum seconds (2)"
    )
    g.add_argument("--max-duration", type=float, default=60.0, metavar="S", help="cap (60)")
    g.add_argument(
        "--seq-len", type=int, default=16, metavar="N", help="dynamic non-batch dimensions (16)"
    )
    g.add_argument(
        "--timeout", type=float, default=900.0, metavar="S", help="seconds per runtime process"
    )
    s = p.add_argument_group("MLPerf LoadGen scenarios")
    s.add_argument("--scenario", choices=_SCENARIOS, help="run an MLPerf scenario")
    s.add_argument("--mlperf-compliant", action="store_true", help="official durations/counts")
    s.add_argument(
        "--scenario-duration", type=float, default=10.0, metavar="S", help="seconds (10)"
    )
    s.add_argument("--target-qps", type=float, metavar="QPS", help="Server scenario arrival rate")
    s.add_argument(
        "--target-latency-ms", type=float, metavar="MS", help="Server scenario p99 bound"
    )
    s.add_argument("--samples-per-query", type=int, default=8, metavar="N", help="MultiStream (8)")
    r = p.add_argument_group("remote server (Open Inference Protocol)")
    r.add_argument("--url", help="http://HOST:PORT or grpc://HOST:PORT")
    r.add_argument("--model", dest="remote_model", metavar="NAME", help="model name on the server")
    r.add_argument(
        "--concurrency", type=int_list, metavar="LIST", help="concurrency levels (default 1,4,16)"
    )
    r.add_argument(
        "--request-rate", type=float_list, metavar="LIST", help="requests/s levels instead"
    )
    r.add_argument("--duration", type=float, default=5.0, metavar="S", help="seconds per level (5)")
    r.add_argument("--binary", action="store_true", help="binary tensor extension (HTTP)")
    o = p.add_argument_group("outputs")
    o.add_argument("--json", nargs="?", const="-", metavar="PATH", help="JSON (stdout if no PATH)")
    o.add_argument("--csv", metavar="PATH", help="write CSV")
    o.add_argument("--plots", metavar="DIR", help="write PNG plots (matplotlib)")
    o.add_argument("--html", metavar="PATH", help="write a self-contained HTML report")
    o.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    """Run ``modelport bench``; returns 0, or 1 when a runtime disagreed with the reference.

    Raises:
        ConfigError: the arguments do not make a valid benchmark.
        BenchError: the benchmark could not run.
    """
    from modelport.bench import app

    if args.list_runtimes:
        return app.list_runtimes()
    if args.target[:1] == ["compare"]:
        if len(args.target) != 3:
            raise ConfigError("usage: modelport bench compare A.json B.json")
        return app.compare_files(args.target[1], args.target[2])
    if args.url:
        return app.run_remote(args)
    if len(args.target) != 1:
        raise ConfigError("name one MODEL (an .onnx file or a demo model such as resnet18)")
    return app.run_local(args)
