"""Served throughput and latency vs the in-process ONNX Runtime ceiling and a FastAPI baseline.

This machine's speed drifts by up to 2x within minutes (shared host), so nothing is compared
across time: every comparison alternates short windows of its two sides, several rounds, and
reports the median of the per-round ratios.

  1. Table: `modelport serve` (HTTP binary, HTTP JSON via wrk; gRPC via modelport's own load
     generator), a plain FastAPI + uvicorn + onnxruntime app (HTTP JSON via wrk) and the same
     modelport server with dynamic batching removed, all running at once; for resnet18 and mlp
     at 1, 8 and 64 clients, the configurations take turns, round after round.
  2. resnet18 served at 64 clients vs the in-process ONNX Runtime ceiling at the batch size the
     batcher formed (same session settings: all cores, one instance), alternating.
Prints: served / ceiling, modelport / FastAPI, lone-client p50 with batching on / off.

Run: make bench-serving   (needs wrk: apt-get install wrk; FastAPI: pip install 'modelport[peers]')
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
from _harness import free_port, modelport_server, oip_bodies, process, table, wrk

MODELS = {"resnet18": ("input", (3, 224, 224), "logits"), "mlp": ("input", (64,), "output")}
HERE = Path(__file__).resolve().parent


def stats(http: int, model: str) -> dict[int, int]:
    """Executions per batch size so far."""
    with urllib.request.urlopen(f"http://127.0.0.1:{http}/v2/models/{model}/stats") as r:
        rows = json.load(r)["model_stats"][0]["batch_stats"]
    return {b["batch_size"]: b["compute_infer"]["count"] for b in rows}


def settled(result: dict[str, Any], clients: int) -> dict[str, Any]:
    """Wait out the requests a server still holds when the load generator stops (the queue
    drains in about clients / throughput seconds), so the next window does not share the CPU
    with this one's tail."""
    drain = max(result["p99_ms"] / 1000, clients / max(result["req_s"], 1e-3))
    time.sleep(min(10.0, drain + 0.3))
    return result


def grpc_load(port: int, model: str, clients: int, duration: float) -> dict[str, Any]:
    """gRPC load from modelport's own asyncio load generator, in its own process."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([sys.executable, "-m", "modelport", "bench", "--url",
                        f"grpc://127.0.0.1:{port}", "--model", model, "--concurrency",
                        str(clients), "--duration", str(duration), "--json", out.name,
                        "--no-progress"], check=True, capture_output=True)
        row = json.loads(Path(out.name).read_text())["rows"][0]
    return {"req_s": row["throughput"], "p50_ms": row["p50_ms"], "p99_ms": row["p99_ms"],
            "errors": 0}


def no_batching_repo(repo: Path, into: Path) -> Path:
    """A copy of the demo repository with dynamic_batching removed from every config."""
    shutil.copytree(repo, into)
    for config in into.glob("*/config.pbtxt"):
        text = config.read_text()
        start = text.find("dynamic_batching")
        if start >= 0:
            depth, end = 0, start
            for end in range(text.index("{", start), len(text)):
                depth += {"{": 1, "}": -1}.get(text[end], 0)
                if depth == 0:
                    break
            config.write_text(text[:start] + text[end + 1 :])
    return into


class Servers:
    """Every server under test, started once and left idle between windows."""

    def __init__(self, repo: Path, plain: Path, stack: ExitStack) -> None:
        context, self.http, self.grpc = modelport_server(repo)
        stack.enter_context(context)
        context, self.plain_http, _ = modelport_server(plain)
        stack.enter_context(context)
        self.fastapi: int | None = None
        try:
            import fastapi  # noqa: F401
        except ImportError:
            print("FastAPI baseline skipped: pip install 'modelport[peers]'")
            return
        self.fastapi = free_port()
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "fastapi_app:app",
            "--port",
            str(self.fastapi),
            "--host",
            "127.0.0.1",
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        env = {"MODEL_REPOSITORY": str(repo), "PYTHONPATH": str(HERE / "baselines")}
        stack.enter_context(
            process(command, f"http://127.0.0.1:{self.fastapi}/v2/health/ready", env=env)
        )


def configurations(servers: Servers, model: str) -> dict[str, Any]:
    """name -> a function(clients, seconds) -> result, for one model."""
    name, dims, output = MODELS[model]
    x = np.random.default_rng(0).standard_normal((1, *dims)).astype(np.float32)
    bodies = oip_bodies(name, x, output)

    def http(port: int, proto: str) -> Any:
        url = f"http://127.0.0.1:{port}/v2/models/{model}/infer"
        return lambda c, d: wrk(url, *bodies[proto], c, d)

    out = {
        "modelport http-binary": http(servers.http, "http-binary"),
        "modelport http-json": http(servers.http, "http-json"),
        "modelport grpc": lambda c, d: grpc_load(servers.grpc, model, c, d),
        "no-batching http-binary": http(servers.plain_http, "http-binary"),
    }
    if servers.fastapi is not None:
        out["fastapi http-json"] = http(servers.fastapi, "http-json")
    return out


def table_runs(servers: Servers, args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for model in MODELS:
        configs = configurations(servers, model)
        for run in configs.values():  # warm every server and client path once
            settled(run(max(args.concurrency), 1), max(args.concurrency))
        for clients in args.concurrency:
            names = [n for n in configs if clients == 1 or not n.startswith("no-batching")]
            samples: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
            rng = random.Random(clients)
            for _ in range(args.rounds):
                order = rng.sample(names, len(names))  # no fixed neighbour for anyone
                for n in order:
                    samples[n].append(settled(configs[n](clients, args.duration), clients))
            for n in names:
                runs = samples[n]
                row = {
                    "server": n.split()[0],
                    "protocol": n.split()[1],
                    "model": model,
                    "clients": clients,
                    **{
                        k: statistics.median(r[k] for r in runs)
                        for k in ("req_s", "p50_ms", "p99_ms")
                    },
                    "errors": sum(r["errors"] for r in runs),
                }
                rows.append(row)
                print(
                    f"  {n:<24} {model:<9} c={clients:<3} {row['req_s']:8.1f} req/s  "
                    f"p50 {row['p50_ms']:.3f} ms",
                    flush=True,
                )
    return rows


def ceiling_pairs(servers: Servers, args: argparse.Namespace) -> dict[str, Any]:
    """resnet18 served at the top concurrency vs in-process ORT, windows alternating."""
    import onnxruntime as ort

    from modelport.repository.demo import ensure_demo_repository

    model, clients = "resnet18", max(args.concurrency)
    serve = configurations(servers, model)["modelport http-binary"]
    serve(clients, 2)  # settle the batcher
    before = stats(servers.http, model)
    serve(clients, args.duration)
    formed = {
        b: n - before.get(b, 0)
        for b, n in stats(servers.http, model).items()
        if n - before.get(b, 0)
    }
    batch = max(formed, key=lambda b: formed[b] * b)
    options = ort.SessionOptions()
    options.intra_op_num_threads = len(os.sched_getaffinity(0))
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        str(ensure_demo_repository() / model / "1" / "model.onnx"), options
    )
    x = np.random.default_rng(0).standard_normal((batch, 3, 224, 224)).astype(np.float32)
    for _ in range(3):
        session.run(None, {"input": x})
    ratios, served_rates, ceilings = [], [], []
    for _ in range(args.rounds * 2):
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < args.duration / 2 or count < 3:
            session.run(None, {"input": x})
            count += 1
        ceil = count * batch / (time.perf_counter() - started)
        served = settled(serve(clients, args.duration / 2), clients)["req_s"]
        ratios.append(served / ceil)
        served_rates.append(served)
        ceilings.append(ceil)
    return {
        "batches": formed,
        "batch": batch,
        "ratios": ratios,
        "served": served_rates,
        "ceilings": ceilings,
        "clients": clients,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per window")
    parser.add_argument("--rounds", type=int, default=3, help="alternations per comparison")
    parser.add_argument(
        "--concurrency", type=lambda s: [int(c) for c in s.split(",")], default=[1, 8, 64]
    )
    parser.add_argument("--json", type=Path, default=None, help="write all results here")
    args = parser.parse_args()
    from modelport.repository.demo import ensure_demo_repository

    repo = ensure_demo_repository()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        servers = Servers(repo, no_batching_repo(repo, Path(tmp) / "models"), stack)
        rows = table_runs(servers, args)
        pairs = ceiling_pairs(servers, args)
    report(rows, pairs)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "ceiling": pairs}, indent=2, default=str))


def report(rows: list[dict[str, Any]], pairs: dict[str, Any]) -> None:
    print()
    print(
        table(
            rows, ["server", "protocol", "model", "clients", "req_s", "p50_ms", "p99_ms", "errors"]
        )
    )
    print("\nratios (each from alternating windows, median over rounds):")
    ratios = pairs["ratios"]
    print(
        f"  resnet18 served at c={pairs['clients']} / in-process ORT at batch {pairs['batch']}"
        f" = {statistics.median(ratios):.2f} (rounds: {', '.join(f'{r:.2f}' for r in ratios)};"
        f" batches formed {dict(sorted(pairs['batches'].items()))})"
    )

    def get(server: str, proto: str, model: str, clients: int) -> dict[str, Any] | None:
        return next(
            (
                r
                for r in rows
                if (r["server"], r["protocol"], r["model"], r["clients"])
                == (server, proto, model, clients)
            ),
            None,
        )

    for model in MODELS:
        for clients in sorted({r["clients"] for r in rows}):
            base = get("fastapi", "http-json", model, clients)
            if base is None:
                continue
            json_ = get("modelport", "http-json", model, clients)
            binary = get("modelport", "http-binary", model, clients)
            assert json_ is not None and binary is not None
            print(
                f"  {model:<9} c={clients:<3} modelport / FastAPI req/s = "
                f"{json_['req_s'] / base['req_s']:.2f} (both JSON), "
                f"{binary['req_s'] / base['req_s']:.2f} (modelport binary)"
            )
        on = get("modelport", "http-binary", model, 1)
        off = get("no-batching", "http-binary", model, 1)
        if on and off:
            print(
                f"  {model:<9} lone client p50 with dynamic batching / without = "
                f"{on['p50_ms']:.3f} / {off['p50_ms']:.3f} ms = "
                f"{on['p50_ms'] / off['p50_ms']:.2f}"
            )


if __name__ == "__main__":
    main()
