"""What metrics and tracing cost: mlp throughput with them off vs on, side by side.

Three servers on the demo repository, each driven by wrk (HTTP binary) at the same load,
interleaved A B C A B C so drift hits all alike:
  bare     --allow-metrics false, tracing off
  metrics  the default: /metrics with histograms, tracing off
  tracing  metrics on and OpenTelemetry spans exported (console exporter to /dev/null)
Target: metrics on, tracing off within 5% of bare.

Run: .venv/bin/python benchmarks/observability.py [--duration 8] [--clients 8,64]
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
from _harness import free_port, oip_bodies, process, wrk

from modelport.repository.demo import ensure_demo_repository

CONFIGS = {
    "bare": (["--allow-metrics", "false"], {}),
    "metrics": ([], {}),
    "tracing": ([], {"OTEL_TRACES_EXPORTER": "console"}),
}


def run_config(name: str, clients: list[int], duration: float) -> dict[int, float]:
    import sys

    flags, env = CONFIGS[name]
    http = free_port()
    command = [
        sys.executable,
        "-m",
        "modelport",
        "serve",
        str(ensure_demo_repository()),
        "--http-port",
        str(http),
        "--grpc-port",
        "-1",
        "--metrics-port",
        "-1",
        "--log-level",
        "warning",
        *flags,
    ]
    x = np.random.default_rng(0).standard_normal((1, 64)).astype(np.float32)
    body, headers = oip_bodies("input", x, "output")["http-binary"]
    out = {}
    with process(command, f"http://127.0.0.1:{http}/v2/health/ready", env=env):
        url = f"http://127.0.0.1:{http}/v2/models/mlp/infer"
        wrk(url, body, headers, max(clients), 1)  # warm-up
        for c in clients:
            result = wrk(url, body, headers, c, duration)
            assert result["errors"] == 0, result
            out[c] = result["req_s"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--clients", type=lambda s: [int(c) for c in s.split(",")], default=[8, 64])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    runs: dict[str, dict[int, list[float]]] = {n: {c: [] for c in args.clients} for n in CONFIGS}
    for round_ in range(args.rounds):
        for name in CONFIGS:
            for c, rate in run_config(name, args.clients, args.duration).items():
                runs[name][c].append(rate)
                print(f"round {round_ + 1} {name:<8} c={c:<3} {rate:8.0f} req/s", flush=True)
    print("\nmlp, HTTP binary, median req/s over rounds, and ratio to bare:")
    for c in args.clients:
        bare = statistics.median(runs["bare"][c])
        cells = [
            f"{n} {statistics.median(runs[n][c]):7.0f} ({statistics.median(runs[n][c]) / bare:.3f})"
            for n in CONFIGS
        ]
        print(f"  c={c:<3} " + "   ".join(cells))
    for c in args.clients:
        bare = statistics.median(runs["bare"][c])
        cost = 1 - statistics.median(runs["metrics"][c]) / bare
        print(f"  metrics-on overhead at c={c}: {cost * 100:+.1f}% (target < 5%)")


if __name__ == "__main__":
    main()
