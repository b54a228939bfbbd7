"""Served throughput and latency vs in-process ONNX Runtime, a FastAPI app and a real Triton.

This machine's speed drifts by up to 2x within minutes (shared host), so nothing is compared
across time: every comparison alternates short windows of its sides, in a fresh random order
each round, and reports the median of the per-round ratios.

Sections (--sections, all by default; about 5 minutes with the defaults):
  table      `modelport serve` (HTTP binary and JSON via wrk; gRPC via modelport's own load
             generator), a FastAPI + uvicorn + onnxruntime app (HTTP JSON via wrk) and the same
             modelport server without dynamic batching, for each of --models (default mlp)
             at each --concurrency; wrk unpinned (the scheduler places it on either core).
  ceiling    resnet18 served at the top concurrency vs in-process ONNX Runtime at the batch size
             the batcher formed (same session settings), alternating.
  triton     mlp, modelport HTTP binary vs a real Triton 2.51 (nvidia-pytriton wheel, Python
             backend running the same ONNX Runtime session, dynamic batching with
             max_batch_size 64 and each --triton-delays queue delay), same tritonclient-style
             binary bodies, at 1 and the top concurrency; outputs checked against in-process
             ONNX Runtime before any timing; each server's CPU (its whole process tree) is
             reported per window as % of a core and CPU microseconds per request.
             Set up once: .venv/bin/python benchmarks/_triton.py
  placement  mlp at the top concurrency, modelport HTTP JSON/binary vs FastAPI JSON, with wrk
             unpinned ('free', as in the table) and with wrk's one thread pinned to core 0 by
             taskset while the servers use both cores ('pinned', the independent harness's
             setting, and how many users run a load generator on their server's machine).
Every server runs for the whole run and is idle outside its own windows.

Full run as in benchmarks/README.md (about 15 minutes):
  .venv/bin/python benchmarks/serving.py --models resnet18,mlp --concurrency 1,8,64 --rounds 5

Run: make bench-serving   (needs wrk: apt-get install wrk; FastAPI: pip install 'modelport[peers]')
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
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import _triton
import numpy as np
from _harness import (
    alternate,
    check_against_ort,
    free_port,
    median_of,
    modelport_server,
    oip_bodies,
    process,
    ratios,
    settled,
    spread,
    table,
    with_server_cpu,
    wrk,
)
from placement import accounted

MODELS = {"resnet18": ("input", (3, 224, 224), "logits"), "mlp": ("input", (64,), "output")}
OUTPUT_DIMS = {"resnet18": (1000,), "mlp": (10,)}
HERE = Path(__file__).resolve().parent
SECTIONS = ("table", "ceiling", "triton", "placement")
PLACEMENTS = {"free": None, "pinned": "0"}  # taskset -c list for wrk, None: unpinned


def stats(http: int, model: str) -> dict[int, int]:
    """Executions per batch size so far (modelport and Triton answer the same route)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{http}/v2/models/{model}/stats") as r:
        rows = json.load(r)["model_stats"][0]["batch_stats"]
    return {int(b["batch_size"]): int(b["compute_infer"]["count"]) for b in rows}


def batches_since(http: int, model: str, before: dict[int, int]) -> dict[int, int]:
    """Executions per batch size since ``before``."""
    now = stats(http, model)
    return {b: n - before.get(b, 0) for b, n in sorted(now.items()) if n - before.get(b, 0)}


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


def demo_repository(into: Path) -> Path:
    """The demo repository, written by the installed modelport's own CLI."""
    subprocess.run([sys.executable, "-m", "modelport", "demo-repo", str(into)], check=True,
                   capture_output=True)
    return into


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

    def __init__(self, repo: Path, plain: Path, stack: ExitStack, flags: list[str]) -> None:
        self.repo = repo
        self.pids: dict[str, int] = {}  # server -> process id, for CPU accounting
        context, self.http, self.grpc = modelport_server(repo, *flags)
        self.pids["modelport"] = stack.enter_context(context).pid
        context, self.plain_http, _ = modelport_server(plain, *flags)
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
        self.pids["fastapi"] = stack.enter_context(
            process(command, f"http://127.0.0.1:{self.fastapi}/v2/health/ready", env=env)
        ).pid


def load(port: int, model: str, proto: str, cpus: str | None = None) -> Callable[..., Any]:
    """A function(clients, seconds) -> wrk result for one server, model and body kind."""
    name, dims, output = MODELS[model]
    x = np.random.default_rng(0).standard_normal((1, *dims)).astype(np.float32)
    body, headers = oip_bodies(name, x, output)[proto]
    url = f"http://127.0.0.1:{port}/v2/models/{model}/infer"
    return lambda c, d: wrk(url, body, headers, c, d, cpus=cpus)


def configurations(servers: Servers, model: str) -> dict[str, Any]:
    """name -> a function(clients, seconds) -> result, for one model."""
    out = {
        "modelport http-binary": load(servers.http, model, "http-binary"),
        "modelport http-json": load(servers.http, model, "http-json"),
        "modelport grpc": lambda c, d: grpc_load(servers.grpc, model, c, d),
        "no-batching http-binary": load(servers.plain_http, model, "http-binary"),
    }
    if servers.fastapi is not None:
        out["fastapi http-json"] = load(servers.fastapi, model, "http-json")
    return out


def table_runs(servers: Servers, args: argparse.Namespace) -> dict[str, Any]:
    """Every configuration at every concurrency, alternating; rows of medians plus the windows
    (so ratios can be taken per round)."""
    rows, windows = [], {}
    for model in args.models:
        configs = configurations(servers, model)
        for run in configs.values():  # warm every server and client path once
            settled(run(max(args.concurrency), 1), max(args.concurrency))
        for clients in args.concurrency:
            names = [n for n in configs if clients == 1 or not n.startswith("no-batching")]
            sides = {n: (lambda run=configs[n], c=clients: run(c, args.duration))
                     for n in names}
            samples = alternate(sides, args.rounds, seed=clients, clients=clients)
            windows[f"{model} {clients}"] = samples
            for n in names:
                runs = samples[n]
                row = {
                    "server": n.split()[0],
                    "protocol": n.split()[1],
                    "model": model,
                    "clients": clients,
                    **{k: median_of(runs, k) for k in ("req_s", "p50_ms", "p99_ms")},
                    "errors": sum(r["errors"] for r in runs),
                }
                rows.append(row)
                print(
                    f"  {n:<24} {model:<9} c={clients:<3} {row['req_s']:8.1f} req/s  "
                    f"p50 {row['p50_ms']:.3f} ms",
                    flush=True,
                )
    return {"rows": rows, "windows": windows}


def ceiling_pairs(servers: Servers, args: argparse.Namespace) -> dict[str, Any]:
    """resnet18 served at the top concurrency vs in-process ORT, windows alternating."""
    import onnxruntime as ort

    model, clients = "resnet18", max(args.concurrency)
    serve = configurations(servers, model)["modelport http-binary"]
    serve(clients, 2)  # settle the batcher
    before = stats(servers.http, model)
    serve(clients, args.duration)
    formed = batches_since(servers.http, model, before)
    batch = max(formed, key=lambda b: formed[b] * b)
    options = ort.SessionOptions()
    options.intra_op_num_threads = len(os.sched_getaffinity(0))
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(servers.repo / model / "1" / "model.onnx"), options)
    x = np.random.default_rng(0).standard_normal((batch, 3, 224, 224)).astype(np.float32)
    for _ in range(3):
        session.run(None, {"input": x})
    found, served_rates, ceilings = [], [], []
    for _ in range(args.rounds * 2):
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < args.duration / 2 or count < 3:
            session.run(None, {"input": x})
            count += 1
        ceil = count * batch / (time.perf_counter() - started)
        served = settled(serve(clients, args.duration / 2), clients)["req_s"]
        found.append(served / ceil)
        served_rates.append(served)
        ceilings.append(ceil)
    return {"batches": formed, "batch": batch, "ratios": found, "served": served_rates,
            "ceilings": ceilings, "clients": clients}


def triton_pairs(servers: Servers, args: argparse.Namespace, stack: ExitStack,
                 tmp: Path) -> dict[str, Any] | None:
    """mlp: modelport HTTP binary vs Triton HTTP binary at each queue delay, alternating."""
    triton = _triton.find()
    if triton is None and args.setup_triton:
        triton = _triton.setup()
    if triton is None:
        print(f"Triton variant skipped: set it up once with `{_triton.SETUP_COMMAND}` "
              f"(installs {_triton.PYTRITON} into {_triton.ROOT}/venv), or pass --setup-triton")
        return None
    model = "mlp"
    name, dims, output = MODELS[model]
    onnx = servers.repo / model / "1" / "model.onnx"
    ports, pids = {}, {"modelport": servers.pids["modelport"]}
    for delay in args.triton_delays:
        repo = _triton.python_model_repository(onnx, tmp / f"triton-{delay}", model,
                                               (name, output), (dims, OUTPUT_DIMS[model]), delay,
                                               threads=args.triton_intra_op_threads,
                                               spinning=args.triton_spinning)
        label = f"triton delay={delay}us"
        context, ports[label] = _triton.server(triton, repo, log=tmp / f"triton-{delay}.log")
        pids[label] = stack.enter_context(context).pid
    check_against_ort(servers.http, "modelport", onnx, model, name, dims, output)
    for label, port in ports.items():
        check_against_ort(port, f"Triton 2.51 {label}", onnx, model, name, dims, output)
    ports = {"modelport": servers.http, **ports}
    sides = {label: with_server_cpu(pids[label], load(port, model, "http-binary"))
             for label, port in ports.items()}
    result: dict[str, Any] = {"delays_us": args.triton_delays, "clients": {}}
    for clients in sorted({1, max(args.concurrency)}):
        for run in sides.values():
            settled(run(clients, 1), clients)
        before = {label: stats(port, model) for label, port in ports.items()}
        windows = {label: (lambda run=run, c=clients: run(c, args.duration))
                   for label, run in sides.items()}
        samples = alternate(windows, args.rounds, seed=clients, clients=clients)
        formed = {label: batches_since(port, model, before[label])
                  for label, port in ports.items()}
        result["clients"][clients] = {"windows": samples, "batches": formed}
        for label, runs in samples.items():
            print(f"  {label:<24} mlp c={clients:<3} {median_of(runs, 'req_s'):8.1f} req/s  "
                  f"p50 {median_of(runs, 'p50_ms'):.3f} ms", flush=True)
    return result


def placement_pairs(servers: Servers, args: argparse.Namespace) -> dict[str, Any] | None:
    """mlp at the top concurrency: modelport vs FastAPI with wrk free and pinned to core 0."""
    if servers.fastapi is None:
        return None
    model, clients = "mlp", max(args.concurrency)
    sides = {}
    for placement, cpus in PLACEMENTS.items():
        for label, port, proto in (("modelport http-json", servers.http, "http-json"),
                                   ("modelport http-binary", servers.http, "http-binary"),
                                   ("fastapi http-json", servers.fastapi, "http-json")):
            run = load(port, model, proto, cpus)
            pid = servers.pids[label.split()[0]]
            sides[f"{placement} {label}"] = (
                lambda run=run, pid=pid: accounted(pid, lambda: run(clients, args.duration)))
    for run in sides.values():
        run()
    samples = alternate(sides, args.rounds, seed=7, clients=clients)
    for label, runs in samples.items():
        print(f"  {label:<28} mlp c={clients:<3} {median_of(runs, 'req_s'):8.1f} req/s  "
              f"p50 {median_of(runs, 'p50_ms'):.3f} ms", flush=True)
    return {"clients": clients, "windows": samples}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per window")
    parser.add_argument("--rounds", type=int, default=3, help="alternations per comparison")
    parser.add_argument(
        "--concurrency", type=lambda s: [int(c) for c in s.split(",")], default=[1, 64],
        help="client counts of the table (default 1,64; the README's full table: 1,8,64)"
    )
    parser.add_argument("--models", type=lambda s: s.split(","), default=["mlp"],
                        help="models of the table (default mlp; the README's full table: "
                             "resnet18,mlp)")
    parser.add_argument("--sections", type=lambda s: s.split(","), default=list(SECTIONS),
                        help=f"comma-separated, of {','.join(SECTIONS)} (default: all)")
    parser.add_argument("--triton-delays", type=lambda s: [int(d) for d in s.split(",")],
                        default=[100, 10000],
                        help="Triton max_queue_delay_microseconds, one server each "
                             "(default 100,10000)")
    parser.add_argument("--setup-triton", action="store_true",
                        help=f"install {_triton.PYTRITON} into {_triton.ROOT} if missing")
    parser.add_argument("--intra-op-threads", type=int, default=0,
                        help="passed to modelport serve (0: its default)")
    parser.add_argument("--serve-flags", type=str.split, default=[],
                        help="more flags for modelport serve, one string "
                             "(e.g. '--intra-op-spinning on')")
    parser.add_argument("--triton-intra-op-threads", type=int, default=0,
                        help="ONNX Runtime threads of Triton's model (0: cores, as modelport)")
    parser.add_argument("--triton-spinning", type=int, choices=(0, 1), default=0,
                        help="session.intra_op.allow_spinning of Triton's model (default 0, as "
                             "modelport's default)")
    parser.add_argument("--json", type=Path, default=None, help="write all results here")
    args = parser.parse_args()
    unknown = set(args.sections) - set(SECTIONS)
    if set(args.models) - set(MODELS):
        parser.error(f"--models: choose from {', '.join(MODELS)}")
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}; choose from "
                     f"{', '.join(SECTIONS)}")
    flags = ["--intra-op-threads", str(args.intra_op_threads)] if args.intra_op_threads else []
    flags += args.serve_flags
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    results: dict[str, Any] = {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp_name, ExitStack() as stack:
        tmp = Path(tmp_name)
        repo = demo_repository(tmp / "demo")
        servers = Servers(repo, no_batching_repo(repo, tmp / "plain"), stack, flags)
        if "table" in args.sections:
            print("table:")
            results["table"] = table_runs(servers, args)
        if "ceiling" in args.sections:
            results["ceiling"] = ceiling_pairs(servers, args)
        if "triton" in args.sections:
            print("triton:")
            results["triton"] = triton_pairs(servers, args, stack, tmp)
        if "placement" in args.sections:
            print("placement:")
            results["placement"] = placement_pairs(servers, args)
    print(f"\n(measured in {time.monotonic() - started:.0f} s; load average now "
          f"{os.getloadavg()[0]:.2f})")
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


def report(results: dict[str, Any]) -> None:
    if "table" in results:
        report_table(results["table"])
    print("\nratios (each from alternating windows, median of the per-round ratios):")
    if "ceiling" in results:
        pairs = results["ceiling"]
        print(f"  resnet18 served at c={pairs['clients']} / in-process ORT at batch "
              f"{pairs['batch']} = {spread(pairs['ratios'])}; batches formed {pairs['batches']}")
    if "table" in results:
        report_table_ratios(results["table"])
    if results.get("triton"):
        report_triton(results["triton"])
    if results.get("placement"):
        report_placement(results["placement"])


def report_table(found: dict[str, Any]) -> None:
    print()
    print(table(found["rows"], ["server", "protocol", "model", "clients", "req_s", "p50_ms",
                                "p99_ms", "errors"]))


def report_table_ratios(found: dict[str, Any]) -> None:
    for key, samples in found["windows"].items():
        model, clients = key.split()
        base = samples.get("fastapi http-json")
        if base is not None:
            print(f"  {model:<9} c={clients:<3} modelport / FastAPI req/s = "
                  f"{spread(ratios(samples['modelport http-json'], base))} JSON vs JSON; "
                  f"{spread(ratios(samples['modelport http-binary'], base))} binary")
        off = samples.get("no-batching http-binary")
        if off is not None:
            on = samples["modelport http-binary"]
            print(f"  {model:<9} lone client p50 with dynamic batching / without = "
                  f"{median_of(on, 'p50_ms'):.3f} / {median_of(off, 'p50_ms'):.3f} ms, ratio "
                  f"{spread(ratios(on, off, 'p50_ms'))}")


def report_triton(found: dict[str, Any]) -> None:
    for clients, entry in found["clients"].items():
        mine = entry["windows"]["modelport"]
        for label, runs in entry["windows"].items():
            if label == "modelport":
                continue
            print(f"  mlp c={clients:<3} modelport / Triton 2.51 ({label}), HTTP binary: req/s "
                  f"{spread(ratios(mine, runs))}; p50 {median_of(mine, 'p50_ms'):.3f} vs "
                  f"{median_of(runs, 'p50_ms'):.3f} ms")
        for label, runs in entry["windows"].items():
            print(f"      {label}: server CPU {median_of(runs, 'server_cpu'):.0f}% of a core, "
                  f"{median_of(runs, 'cpu_us_per_request'):.1f} CPU us per request")
        for label, formed in entry["batches"].items():
            executions = sum(formed.values())
            requests = sum(b * n for b, n in formed.items())
            print(f"      {label}: {requests} requests in {executions} executions "
                  f"(mean batch {requests / max(executions, 1):.1f}, largest "
                  f"{max(formed, default=0)})")


def report_placement(found: dict[str, Any]) -> None:
    samples = found["windows"]
    for placement in PLACEMENTS:
        base = samples[f"{placement} fastapi http-json"]
        print(f"  mlp c={found['clients']} wrk {placement:<6} modelport / FastAPI req/s = "
              f"{spread(ratios(samples[f'{placement} modelport http-json'], base))} JSON; "
              f"{spread(ratios(samples[f'{placement} modelport http-binary'], base))} binary")
    for label in ("modelport http-json", "modelport http-binary", "fastapi http-json"):
        print(f"  mlp c={found['clients']} {label}: pinned / free req/s = "
              f"{spread(ratios(samples[f'pinned {label}'], samples[f'free {label}']))}")
    print("  CPU during those windows, medians in % of one core (server main thread / its other "
          "threads / wrk / foreign: everything else on the machine):")
    for label, runs in samples.items():
        print(f"    {label:<28} " + " / ".join(
            f"{median_of(runs, k):.0f}" for k in ("main_cpu", "other_threads_cpu", "wrk_cpu",
                                                  "foreign_cpu")))


if __name__ == "__main__":
    main()
