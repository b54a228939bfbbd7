"""How much of one HTTP inference's Python time is the core pipeline, in-process, side by side.

The server's event loop thread is the bottleneck for a small model (mlp at 64 clients: 97-99%
of one core). This measures, on one uvloop loop in this process (no sockets, so the HTTP wire
and the kernel are left out):
  http app   the HTTP front's app for a tritonclient-style binary body: read the body, route,
             decode, validate, schedule, batch, run, encode, reply
  core only  ``InferenceCore.infer`` with a request already decoded into the core's terms:
             lookup, validate, schedule, batch, run, statistics (what a model process would
             still do per request if separate front processes parsed and decoded)
Both run 64 requests at a time through the same dynamic batcher, rounds alternating; it prints
microseconds per request and the per-round ratio core / app.

Run: .venv/bin/python benchmarks/pipeline_share.py [--rounds 9 --batches 40]  (about 20 s)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from _harness import oip_bodies

from modelport.repository.config import ModelConfig
from modelport.serve.config import ServerConfig
from modelport.serve.limits import RequestLimits
from modelport.serve.server import Server
from modelport.serve.types import InferRequest, InferResponse, InputTensor, RequestedOutput

ROW = np.random.default_rng(0).standard_normal((1, 64)).astype(np.float32)


class Decoded:
    """An InferCall whose request is already decoded (a front process would have done it)."""

    model, version, protocol = "mlp", "", "http"

    def trace_carrier(self) -> Mapping[str, str]:
        return {}

    def decode(self, config: ModelConfig, limits: RequestLimits) -> InferRequest:
        data = np.frombuffer(ROW.tobytes(), np.float32).reshape(1, 64)
        return InferRequest("mlp", inputs=[InputTensor("input", "FP32", [1, 64], data)],
                            outputs=[RequestedOutput("output", True)], binary_output=True)

    def encode(self, response: InferResponse, request: InferRequest) -> bytes:
        return bytes(response.outputs[0].data.tobytes())


def http_call(app: Any) -> Callable[[], Awaitable[None]]:
    """One HTTP infer through the app, as the wire server would hand it over."""
    body, headers = oip_bodies("input", ROW, "output")["http-binary"]
    head = [(b"host", b"127.0.0.1"), (b"content-length", str(len(body)).encode())]
    head += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    scope = {"type": "http", "method": "POST", "path": "/v2/models/mlp/infer", "headers": head,
             "query_string": b"", "http_version": "1.1", "scheme": "http"}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def call() -> None:
        answers: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            answers.append(message)

        await app(dict(scope), receive, send)
        assert answers[0]["status"] == 200, answers

    return call


async def measure(repo: Path, rounds: int, batches: int,
                  clients: int = 64) -> dict[str, list[float]]:
    config = ServerConfig.from_env(model_repository=repo, http_port=-1, grpc_port=-1,
                                   metrics_port=-1, model_control_mode="explicit",
                                   load_models=["mlp"])
    server = Server(config)
    await server.start()
    assert server.core is not None
    core = server.core
    kinds: dict[str, Callable[[], Awaitable[Any]]] = {
        "http app": http_call(server.http_app()), "core only": lambda: core.infer(Decoded())}
    found: dict[str, list[float]] = {kind: [] for kind in kinds}
    try:
        for run in kinds.values():  # warm the batcher's timings and both paths
            for _ in range(3):
                await asyncio.gather(*(run() for _ in range(clients)))
        for _ in range(rounds):
            for kind, run in kinds.items():
                started = time.perf_counter()
                for _ in range(batches):
                    await asyncio.gather(*(run() for _ in range(clients)))
                found[kind].append((time.perf_counter() - started) / (batches * clients) * 1e6)
    finally:
        await server.stop()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--batches", type=int, default=40, help="64-request waves per window")
    args = parser.parse_args()
    import uvloop

    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "demo"
        subprocess.run([sys.executable, "-m", "modelport", "demo-repo", str(repo)], check=True,
                       capture_output=True)
        found = uvloop.run(measure(repo, args.rounds, args.batches))
    for kind, values in found.items():
        print(f"{kind:<10} {statistics.median(values):6.1f} us/request (rounds: "
              f"{', '.join(f'{v:.1f}' for v in values)})")
    shares = [c / h for c, h in zip(found["core only"], found["http app"], strict=True)]
    print(f"core / http app: {statistics.median(shares):.2f} (rounds: "
          f"{', '.join(f'{s:.2f}' for s in shares)})")


if __name__ == "__main__":
    main()
