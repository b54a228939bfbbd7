"""Served throughput and latency vs the in-process ONNX Runtime ceiling and a FastAPI baseline.

One run, one machine, side by side:
  1. `modelport serve` on the demo repository; wrk (HTTP JSON and binary) and modelport's own
     gRPC load generator, each a separate process, at 1, 8 and 64 concurrent clients, for
     resnet18 and mlp. Server statistics give the batch sizes the dynamic batcher formed.
  2. The same models served by a plain FastAPI + uvicorn + onnxruntime app, same load.
  3. A lone client with dynamic batching on vs off.
  4. The in-process ONNX Runtime ceiling (items/s) at the batch sizes the batcher formed.
Prints ratios: served / ceiling, modelport / FastAPI, lone-client p50 batching on / off.

Run: make bench-serving   (needs wrk: apt-get install wrk; FastAPI: pip install fastapi)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
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


def served_runs(
    repo: Path,
    args: argparse.Namespace,
    tag: str,
    flags: list[str],
) -> list[dict[str, Any]]:
    rows = []
    context, http, grpc = modelport_server(repo, *flags)
    with context:
        for model, (name, dims, output) in MODELS.items():
            x = np.random.default_rng(0).standard_normal((1, *dims)).astype(np.float32)
            bodies = oip_bodies(name, x, output)
            url = f"http://127.0.0.1:{http}/v2/models/{model}/infer"
            for proto in args.protocols:
                for c in args.concurrency:
                    if proto == "grpc":
                        result = grpc_load(grpc, model, c, args.duration)
                    else:
                        body, headers = bodies[proto]
                        before = stats(http, model)
                        result = wrk(url, body, headers, c, args.duration)
                        after = stats(http, model)
                        result["batches"] = {
                            b: n - before.get(b, 0)
                            for b, n in after.items()
                            if n - before.get(b, 0)
                        }
                    rows.append(
                        {"server": tag, "model": model, "protocol": proto, "clients": c, **result}
                    )
                    print(
                        f"  {tag:<10} {model:<9} {proto:<11} c={c:<3} "
                        f"{result['req_s']:8.1f} req/s  p50 {result['p50_ms']:.2f} ms",
                        flush=True,
                    )
    return rows


def grpc_load(port: int, model: str, clients: int, duration: float) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "modelport",
                "bench",
                "--url",
                f"grpc://127.0.0.1:{port}",
                "--model",
                model,
                "--concurrency",
                str(clients),
                "--duration",
                str(duration),
                "--json",
                out.name,
                "--no-progress",
            ],
            check=True,
            capture_output=True,
        )
        row = json.loads(Path(out.name).read_text())["rows"][0]
    return {
        "req_s": row["throughput"],
        "p50_ms": row["p50_ms"],
        "p90_ms": row["p90_ms"],
        "p99_ms": row["p99_ms"],
        "errors": 0,
        "requests": row["count"],
    }


def baseline_runs(repo: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    try:
        import fastapi  # noqa: F401
    except ImportError:
        print("  FastAPI baseline skipped: pip install fastapi")
        return []
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "fastapi_app:app",
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    env = {"MODEL_REPOSITORY": str(repo), "PYTHONPATH": str(HERE / "baselines")}
    rows = []
    with process(command, f"http://127.0.0.1:{port}/v2/health/ready", env=env):
        for model, (name, dims, output) in MODELS.items():
            x = np.random.default_rng(0).standard_normal((1, *dims)).astype(np.float32)
            body, headers = oip_bodies(name, x, output)["http-json"]
            for c in args.concurrency:
                result = wrk(
                    f"http://127.0.0.1:{port}/v2/models/{model}/infer",
                    body,
                    headers,
                    c,
                    args.duration,
                )
                rows.append(
                    {
                        "server": "fastapi",
                        "model": model,
                        "protocol": "http-json",
                        "clients": c,
                        **result,
                    }
                )
                print(
                    f"  fastapi    {model:<9} http-json   c={c:<3} {result['req_s']:8.1f} "
                    f"req/s  p50 {result['p50_ms']:.2f} ms",
                    flush=True,
                )
    return rows


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


def ceiling(model: str, batches: list[int], seconds: float) -> dict[int, float]:
    """In-process items/s per batch size, same thread settings as the server's one instance."""
    import onnxruntime as ort

    from modelport.repository.demo import ensure_demo_repository

    name, dims, _ = MODELS[model]
    options = ort.SessionOptions()
    options.intra_op_num_threads = len(os.sched_getaffinity(0))
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(
        str(ensure_demo_repository() / model / "1" / "model.onnx"), options
    )
    out = {}
    for b in sorted(batches):
        x = np.random.default_rng(0).standard_normal((b, *dims)).astype(np.float32)
        for _ in range(3):
            session.run(None, {name: x})
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds or count < 5:
            session.run(None, {name: x})
            count += 1
        out[b] = count * b / (time.perf_counter() - started)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per load level")
    parser.add_argument(
        "--concurrency", type=lambda s: [int(c) for c in s.split(",")], default=[1, 8, 64]
    )
    parser.add_argument(
        "--protocols", type=lambda s: s.split(","), default=["http-binary", "http-json", "grpc"]
    )
    parser.add_argument("--json", type=Path, default=None, help="write all rows here")
    args = parser.parse_args()
    from modelport.repository.demo import ensure_demo_repository

    repo = ensure_demo_repository()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    rows = served_runs(repo, args, "modelport", [])
    rows += baseline_runs(repo, args)
    with tempfile.TemporaryDirectory() as tmp:
        plain = no_batching_repo(repo, Path(tmp) / "models")
        lone = argparse.Namespace(
            **{**vars(args), "concurrency": [1], "protocols": ["http-binary"]}
        )
        rows += served_runs(plain, lone, "no-batch", [])
    report(rows, args)


def report(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print()
    print(
        table(
            rows, ["server", "model", "protocol", "clients", "req_s", "p50_ms", "p99_ms", "errors"]
        )
    )
    print("\nratios (measured in this run):")
    for model in MODELS:
        mine = [r for r in rows if r["server"] == "modelport" and r["model"] == model]
        top = max(mine, key=lambda r: r["clients"] * 1000 + (r["protocol"] == "http-binary"))
        binary64 = next(
            (
                r
                for r in mine
                if r["protocol"] == "http-binary" and r["clients"] == max(args.concurrency)
            ),
            top,
        )
        batches = binary64.get("batches") or {1: 1}
        ceil = ceiling(model, list(batches), 2.0 if model == "resnet18" else 1.0)
        items = sum(b * n for b, n in batches.items())
        weighted = items / sum(b * n / ceil[b] for b, n in batches.items())
        print(
            f"  {model}: batches formed at c={binary64['clients']} {dict(sorted(batches.items()))}"
        )
        print(
            f"  {model}: in-process ceiling {weighted:.1f} items/s at those batch sizes "
            f"(best {max(ceil.values()):.1f} at batch {max(ceil, key=ceil.get)})"
        )
        print(
            f"  {model}: served / ceiling = {binary64['req_s'] / weighted:.2f} "
            f"(http-binary, {binary64['clients']} clients)"
        )
        base = [r for r in rows if r["server"] == "fastapi" and r["model"] == model]
        for r in base:
            same = next(
                m for m in mine if m["protocol"] == "http-json" and m["clients"] == r["clients"]
            )
            best = max((m for m in mine if m["clients"] == r["clients"]), key=lambda m: m["req_s"])
            print(
                f"  {model}: c={r['clients']:<3} modelport / FastAPI = "
                f"{same['req_s'] / r['req_s']:.2f} (both JSON), "
                f"{best['req_s'] / r['req_s']:.2f} (modelport {best['protocol']})"
            )
        off = next((r for r in rows if r["server"] == "no-batch" and r["model"] == model), None)
        on = next((m for m in mine if m["protocol"] == "http-binary" and m["clients"] == 1), None)
        if off and on:
            print(
                f"  {model}: lone client p50 batching on / off = "
                f"{on['p50_ms']:.3f} / {off['p50_ms']:.3f} ms = {on['p50_ms'] / off['p50_ms']:.2f}"
            )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=str))


if __name__ == "__main__":
    main()
