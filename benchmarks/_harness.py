"""Shared benchmark plumbing: free ports, server subprocesses, wrk runs, tables."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
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
) -> tuple[Any, int, int]:
    """A `modelport serve` process on free ports: (context, http_port, grpc_port)."""
    http, grpc = free_port(), free_port()
    command = [
        sys.executable,
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
    return process(command, f"http://127.0.0.1:{http}/v2/health/ready", log=log), http, grpc


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
) -> dict[str, float]:
    """Closed-loop load with wrk (one thread, N connections); returns req/s and percentiles."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    with tempfile.TemporaryDirectory() as tmp:
        body_path = Path(tmp) / "body.bin"
        body_path.write_bytes(body)
        lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
        script = Path(tmp) / "post.lua"
        script.write_text(LUA.format(body=body_path, headers=lines))
        out = subprocess.run(
            [
                "wrk",
                "-t1",
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
