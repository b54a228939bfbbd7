"""The HTTP front: uvicorn vs modelport's wire server, side by side on the demo mlp model.

Two `modelport serve` processes on the demo repository, identical but for
MODELPORT_HTTP_IMPL (uvicorn / wire), both started before the first window and left idle while
the other is measured. For each client count and body (tritonclient-style binary and JSON),
every round runs one short wrk window on each, in random order; the report gives medians of
req/s, latency and server CPU time per request (user + system, all threads, from /proc), and
the median of the per-round ratios wire / uvicorn. This machine's speed drifts and other jobs
share its cores, so only side-by-side ratios mean anything, and CPU per request is the
steadiest of them.

Then, with --strace, each server is traced (`strace -f -c -e trace=write,sendto,sendmsg,writev`)
for a short wrk run, and the socket writes per response are printed: the wire server's claim
is one per response.

Run: .venv/bin/python benchmarks/http_wire.py [--rounds 5 --duration 3 --strace]
(needs wrk; --strace needs strace: apt-get install -y wrk strace)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
from _harness import free_port, oip_bodies, process, table, wrk

IMPLS = ("uvicorn", "wire")
WRITES = ("write", "sendto", "sendmsg", "writev")
KEYS = ("req_s", "p50_ms", "p99_ms", "cpu_us")


def start(stack: ExitStack, repo: Path, impl: str) -> tuple[int, int]:
    """A `modelport serve` process with the given HTTP front: (port, pid)."""
    port = free_port()
    command = [sys.executable, "-m", "modelport", "serve", str(repo), "--http-port", str(port),
               "--grpc-port", "-1", "--metrics-port", "-1", "--log-level", "warning"]
    proc = stack.enter_context(process(command, f"http://127.0.0.1:{port}/v2/health/ready",
                                       env={"MODELPORT_HTTP_IMPL": impl}))
    return port, proc.pid


def mlp_bodies() -> dict[str, tuple[bytes, dict[str, str]]]:
    """One-row mlp infer bodies, binary extension and JSON."""
    x = np.random.default_rng(0).standard_normal((1, 64)).astype(np.float32)
    return oip_bodies("input", x, "output")


def settle(result: dict[str, Any]) -> dict[str, Any]:
    """Let the server drain what wrk left in flight before the next window starts."""
    time.sleep(0.3 + min(2.0, result["p99_ms"] / 1000))
    return result


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads, so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def compare(started: dict[str, tuple[int, int]],
            args: argparse.Namespace) -> list[dict[str, Any]]:
    """Alternating windows for every (clients, body); one row per (impl, clients, body)."""
    bodies = mlp_bodies()
    rows = []
    for clients in args.concurrency:
        for proto, (body, headers) in bodies.items():
            def run(impl: str, seconds: float, c: int = clients, b: bytes = body,
                    h: dict[str, str] = headers) -> dict[str, Any]:
                port, pid = started[impl]
                before = cpu_seconds(pid)
                result = wrk(f"http://127.0.0.1:{port}/v2/models/mlp/infer", b, h, c, seconds)
                used = cpu_seconds(pid) - before
                return {**result, "cpu_us": used * 1e6 / max(1, result["requests"])}

            for impl in IMPLS:  # warm both paths
                settle(run(impl, 1))
            runs: dict[str, list[dict[str, Any]]] = {impl: [] for impl in IMPLS}
            rng = random.Random(clients)
            for _ in range(args.rounds):
                for impl in rng.sample(IMPLS, len(IMPLS)):
                    runs[impl].append(settle(run(impl, args.duration)))
            rows += summarize(runs, clients, proto)
    return rows


def summarize(runs: dict[str, list[dict[str, Any]]], clients: int,
              proto: str) -> list[dict[str, Any]]:
    """Median figures per impl, and per-round ratios on the wire row."""
    rows = []
    for impl in IMPLS:
        row: dict[str, Any] = {"impl": impl, "body": proto, "clients": clients}
        for key in KEYS:
            row[key] = statistics.median(r[key] for r in runs[impl])
        row["errors"] = sum(r["errors"] for r in runs[impl])
        rows.append(row)
    pairs = list(zip(runs["wire"], runs["uvicorn"], strict=True))
    wire = rows[1]
    for key in KEYS:
        wire[f"ratio_{key}"] = [w[key] / u[key] for w, u in pairs if u[key]]
    for key in ("req_s", "cpu_us"):
        print(f"  c={clients:<3} {proto:<12} wire/uvicorn {key} "
              f"{statistics.median(wire[f'ratio_{key}']):.3f} "
              f"(rounds {', '.join(f'{r:.2f}' for r in wire[f'ratio_{key}'])})", flush=True)
    return rows


def syscalls(port: int, pid: int, clients: int, seconds: float) -> dict[str, Any]:
    """Socket writes per response while wrk drives one server under strace.

    Writes are told apart by file descriptor: the event loop's self-pipe gets one-byte
    wake-ups (``"\\0"``) when a worker thread hands a result back; every other write goes to
    a client.
    """
    body, headers = mlp_bodies()["http-binary"]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "strace.txt"
        tracer = subprocess.Popen(["strace", "-f", "-s", "12", "-o", str(out), "-p", str(pid),
                                   "-e", f"trace={','.join(WRITES)}"],
                                  stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # attached to every thread before the load starts
        result = wrk(f"http://127.0.0.1:{port}/v2/models/mlp/infer", body, headers, clients,
                     seconds)
        time.sleep(0.5)  # the last responses are written
        tracer.send_signal(signal.SIGINT)
        tracer.wait(timeout=30)
        client, wakeups = _classify(out.read_text())
    responses = max(1, result["requests"])
    return {"clients": clients, "responses": result["requests"], "client_writes": client,
            "wakeups": wakeups, "writes_per_response": client / responses,
            "wakeups_per_response": wakeups / responses}


_CALL = re.compile(r"^(?:\d+\s+)?(?:write|sendto|sendmsg|writev)\((\d+), (\S*)")


def _classify(trace: str) -> tuple[int, int]:
    """(writes to clients, self-pipe wake-ups) in an strace log."""
    calls = [m.groups() for line in trace.splitlines() if (m := _CALL.match(line))]
    pipes = {fd for fd, data in calls if data.startswith('"\\0"')}
    wakeups = sum(1 for fd, _ in calls if fd in pipes)
    return len(calls) - wakeups, wakeups


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per window")
    parser.add_argument("--rounds", type=int, default=5, help="alternations per comparison")
    parser.add_argument("--concurrency", type=lambda s: [int(c) for c in s.split(",")],
                        default=[1, 64])
    parser.add_argument("--strace", action="store_true", help="also count writes per response")
    parser.add_argument("--json", type=Path, default=None, help="write all results here")
    args = parser.parse_args()
    from modelport.repository.demo import ensure_demo_repository

    repo = ensure_demo_repository()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    with ExitStack() as stack:
        started = {impl: start(stack, repo, impl) for impl in IMPLS}
        rows = compare(started, args)
        traced = []
        if args.strace:
            for impl, (port, pid) in started.items():
                for clients in (1, 64):
                    traced.append({"impl": impl, **syscalls(port, pid, clients, 2.0)})
    report(rows, traced)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "strace": traced}, indent=2))


def report(rows: list[dict[str, Any]], traced: list[dict[str, Any]]) -> None:
    """The table, the ratios, and writes per response."""
    print()
    print(table(rows, ["impl", "body", "clients", *KEYS, "errors"]))
    print("\nwire / uvicorn, median of per-round ratios (req/s: higher is better; p50, p99 and "
          "server CPU per request: lower is better):")
    for row in rows:
        if row["impl"] == "wire":
            med = {k: statistics.median(row[f"ratio_{k}"]) for k in KEYS}
            print(f"  mlp {row['body']:<12} c={row['clients']:<3} req/s {med['req_s']:.3f}  "
                  f"p50 {med['p50_ms']:.3f}  p99 {med['p99_ms']:.3f}  "
                  f"cpu/req {med['cpu_us']:.3f}")
    for t in traced:
        print(f"  strace {t['impl']:<8} c={t['clients']:<3} {t['responses']} responses: "
              f"{t['writes_per_response']:.3f} socket writes per response "
              f"(+ {t['wakeups_per_response']:.3f} event-loop wake-ups from worker threads)")


if __name__ == "__main__":
    main()
