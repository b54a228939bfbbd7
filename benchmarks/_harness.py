"""Shared benchmark plumbing: free ports, server subprocesses, wrk runs, alternating windows,
binary-protocol checks, tables."""

from __future__ import annotations

import http.client
import json
import math
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(
    url: str,
    timeout_s: float = 120.0,
    proc: subprocess.Popen[bytes] | None = None,
) -> None:
    """Poll ``url`` until it answers 200."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout_s}s")


@contextmanager
def process(
    command: Sequence[str],
    ready_url: str,
    env: dict[str, str] | None = None,
    log: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server process until the block ends."""
    out = log.open("wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(
        list(command), stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
    )
    try:
        wait_http(ready_url, proc=proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log:
            out.close()  # type: ignore[union-attr]


def modelport_server(
    repo: Path,
    *flags: str,
    log: Path | None = None,
    python: str = sys.executable,
    env: dict[str, str] | None = None,
) -> tuple[Any, int, int]:
    """A `modelport serve` process on free ports: (context, http_port, grpc_port)."""
    http, grpc = free_port(), free_port()
    command = [
        python,
        "-m",
        "modelport",
        "serve",
        str(repo),
        "--http-port",
        str(http),
        "--grpc-port",
        str(grpc),
        "--metrics-port",
        "-1",
        "--log-level",
        "warning",
        *flags,
    ]
    ready = f"http://127.0.0.1:{http}/v2/health/ready"
    return process(command, ready, env=env, log=log), http, grpc


LUA = """
wrk.method = "POST"
local f = io.open("{body}", "rb")
wrk.body = f:read("*a")
f:close()
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {{"requests": %d, "duration_us": %d, "errors": %d, '
    .. '"non2xx": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d}}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
"""


def wrk(
    url: str,
    body: bytes,
    headers: dict[str, str],
    connections: int,
    duration_s: float,
    threads: int = 1,
    cpus: str | None = None,
) -> dict[str, float]:
    """Closed-loop load with wrk (``threads`` threads sharing N connections; ``cpus``: a
    `taskset -c` list the load generator is pinned to); returns req/s and percentiles."""
    if cpus is not None and shutil.which("taskset") is None:
        raise SystemExit("taskset is not installed: apt-get install util-linux")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    with tempfile.TemporaryDirectory() as tmp:
        body_path = Path(tmp) / "body.bin"
        body_path.write_bytes(body)
        lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
        script = Path(tmp) / "post.lua"
        script.write_text(LUA.format(body=body_path, headers=lines))
        pin = ["taskset", "-c", cpus] if cpus is not None else []
        out = subprocess.run(
            [
                *pin,
                "wrk",
                f"-t{min(threads, connections)}",
                f"-c{connections}",
                f"-d{max(1, round(duration_s))}s",
                "--timeout",
                "10s",
                "-s",
                str(script),
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    data = json.loads(out.split("WRKJSON ", 1)[1].splitlines()[0])
    seconds = data["duration_us"] / 1e6
    return {
        "req_s": data["requests"] / seconds,
        "p50_ms": data["p50_us"] / 1e3,
        "p90_ms": data["p90_us"] / 1e3,
        "p99_ms": data["p99_us"] / 1e3,
        "errors": data["errors"] + data["non2xx"],
        "requests": data["requests"],
    }


def oip_bodies(
    name: str, array: np.ndarray, output: str
) -> dict[str, tuple[bytes, dict[str, str]]]:
    """JSON and binary-extension infer bodies for one input array."""
    dtype = {"float32": "FP32", "int64": "INT64"}[str(array.dtype)]
    as_json = json.dumps(
        {
            "inputs": [
                {
                    "name": name,
                    "shape": list(array.shape),
                    "datatype": dtype,
                    "data": array.ravel().tolist(),
                }
            ]
        }
    )
    raw = array.tobytes()
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": name,
                    "shape": list(array.shape),
                    "datatype": dtype,
                    "parameters": {"binary_data_size": len(raw)},
                }
            ],
            "outputs": [{"name": output, "parameters": {"binary_data": True}}],
        }
    ).encode()
    return {
        "http-json": (as_json.encode(), {"Content-Type": "application/json"}),
        "http-binary": (header + raw, {"Inference-Header-Content-Length": str(len(header))}),
    }


def infer_binary(port: int, model: str, name: str, array: np.ndarray, output: str) -> np.ndarray:
    """One infer request in the binary-data extension (as tritonclient sends it); returns the
    named output decoded from the binary response, so any OIP server can be checked."""
    body, headers = oip_bodies(name, array, output)["http-binary"]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", f"/v2/models/{model}/infer", body, headers)
        response = conn.getresponse()
        data = response.read()
        header_length = response.getheader("Inference-Header-Content-Length")
    finally:
        conn.close()
    if response.status != 200 or header_length is None:
        raise RuntimeError(f"{model} on port {port}: HTTP {response.status}: {data[:300]!r}")
    header = json.loads(data[: int(header_length)])
    offset = int(header_length)
    for out in header["outputs"]:
        size = int(out["parameters"]["binary_data_size"])
        if out["name"] == output:
            raw = data[offset : offset + size]
            return np.frombuffer(raw, dtype=np.float32).reshape(out["shape"])
        offset += size
    raise RuntimeError(f"{model} on port {port}: no binary output {output!r} in {header}")


def check_against_ort(port: int, label: str, onnx: Path, model: str, name: str,
                      dims: Sequence[int], output: str) -> float:
    """Answers of the server at ``port`` (binary protocol) vs in-process ONNX Runtime on the
    same inputs (eight single rows and one request of five rows); exits on a mismatch, else
    prints and returns the largest difference."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(7)
    arrays = [rng.standard_normal((1, *dims)).astype(np.float32) for _ in range(8)]
    arrays.append(rng.standard_normal((5, *dims)).astype(np.float32))
    worst = 0.0
    for x in arrays:
        served = infer_binary(port, model, name, x, output)
        expected = session.run([output], {name: x})[0]
        if served.shape != expected.shape or not np.allclose(served, expected, atol=1e-5):
            raise SystemExit(f"{label} answers {model} wrongly: {served!r} vs {expected!r}")
        worst = max(worst, float(np.abs(served - expected).max()))
    print(f"  {label}: {len(arrays)} answers match in-process ONNX Runtime (max diff {worst:.1e})")
    return worst


def settled(result: dict[str, Any], clients: int) -> dict[str, Any]:
    """Wait out the requests a server still holds when the load generator stops (the queue
    drains in about clients / throughput seconds), so the next window does not share the CPU
    with this one's tail."""
    drain = max(result["p99_ms"] / 1000, clients / max(result["req_s"], 1e-3))
    time.sleep(min(10.0, drain + 0.3))
    return result


Window = Callable[[], dict[str, Any]]


def tree_cpu_s(pid: int) -> float:
    """CPU seconds used so far by a process and all its descendants still running (Triton's
    Python backend runs each model in a stub process; modelport's --http-fronts in fronts)."""
    total, stack = 0.0, [pid]
    tick = os.sysconf("SC_CLK_TCK")
    while stack:
        current = stack.pop()
        try:
            stat = Path(f"/proc/{current}/stat").read_text()
            for tid in os.listdir(f"/proc/{current}/task"):
                stack += [int(c) for c in
                          Path(f"/proc/{current}/task/{tid}/children").read_text().split()]
        except OSError:  # it ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def with_server_cpu(pid: int, run: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """``run`` (a window) that also reports the server's CPU: % of one core and CPU
    microseconds per completed request, its whole process tree counted."""

    def measured(*args: Any) -> dict[str, Any]:
        before, started = tree_cpu_s(pid), time.monotonic()
        result = run(*args)
        used, seconds = tree_cpu_s(pid) - before, time.monotonic() - started
        return {**result, "server_cpu": 100 * used / seconds,
                "cpu_us_per_request": 1e6 * used / max(result["requests"], 1)}

    return measured


def alternate(sides: dict[str, Window], rounds: int, seed: int = 0,
              clients: int = 1) -> dict[str, list[dict[str, Any]]]:
    """Run every side's window once per round, in a fresh random order each round (nobody has
    a fixed neighbour), letting each window's tail drain; returns the windows per side."""
    rng = random.Random(seed)
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
    names = list(sides)
    for _ in range(rounds):
        for name in rng.sample(names, len(names)):
            samples[name].append(settled(sides[name](), clients))
    return samples


def ratios(top: list[dict[str, Any]], bottom: list[dict[str, Any]],
           key: str = "req_s") -> list[float]:
    """Per-round ratios top/bottom of one measure (windows paired by round); NaN for a round
    whose bottom window completed nothing (e.g. every request outlived wrk's 10 s timeout)."""
    return [t[key] / b[key] if b[key] > 0 else math.nan for t, b in zip(top, bottom, strict=True)]


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def spread(values: list[float]) -> str:
    """'median (rounds: a, b, c)', the median over the rounds that have a ratio."""
    found = [v for v in values if math.isfinite(v)]
    middle = f"{statistics.median(found):.2f}" if found else "n/a"
    rounds = ", ".join(f"{v:.2f}" if math.isfinite(v) else "n/a" for v in values)
    return f"{middle} (rounds: {rounds})"


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A plain fixed-width table."""
    cells = [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if value < 100 else f"{value:.0f}"
    return "" if value is None else str(value)
