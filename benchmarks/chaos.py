"""Chaos benchmark: the scenarios of tests/chaos, bigger, with the figures table.

Each scenario runs against its own `modelport serve` process on loopback ports and reports
requests sent, failed (an error the request should not have had), lost (sent and never
answered) and the p99 of the answered ones:

  connections  1,000 HTTP keep-alive connections x 10 requests; 1,000 gRPC connections x 4 calls
  slowloris    a fresh client beside 200 idle and 200 byte-a-second connections, and alone
  resets       HTTP clients resetting mid-request: each must be counted CANCELED
  sigterm      closed-loop HTTP and gRPC clients, then SIGTERM: requests in flight answered,
               later ones refused 503 / UNAVAILABLE (not failures), exit within --drain-timeout
  stuck        SIGTERM with a request stuck in the runtime: exit time against --drain-timeout
  hung-load    SIGTERM while a Python model hangs in initialize: exit time likewise
  sigkill      kill -9 while a new version loads, restart: the newest complete version serves
  files        model files truncated, replaced, deleted mid-load under traffic

Run: .venv/bin/python benchmarks/chaos.py [--scale 1.0] [--only connections,sigterm]
Every loop is bounded in count and time; the whole run takes about two minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tritonclient.grpc.aio as grpcaio
from tritonclient.utils import InferenceServerException

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.chaos import (
    ECHO,
    SLOW,
    AdderTraffic,
    Figures,
    canceled,
    disconnect_mid_request,
    echoed,
    fake_model,
    fresh_client,
    grpc_storm,
    heavy_adder,
    http_storm,
    infer_request,
    loading,
    pending,
    raise_nofile,
    read_response,
    reset_socket,
    slowloris,
    table,
    wait_until,
)
from support.server import ServerProcess

BATCHED = "dynamic_batching { max_queue_delay_microseconds: 500 }"


class Bench:
    """A temporary folder, the servers started in it, and the figures gathered."""

    def __init__(self, root: Path, scale: float) -> None:
        self.root, self.scale = root, scale
        self.rows: list[Figures] = []
        self._servers: list[ServerProcess] = []

    def n(self, count: int) -> int:
        """``count`` times the scale, at least 1."""
        return max(1, int(count * self.scale))

    def repo(self, name: str) -> Path:
        """A fresh repository folder."""
        path = self.root / name
        path.mkdir()
        return path

    def serve(self, repo: Path, *flags: str, cache: Path | None = None) -> ServerProcess:
        """A server on ``repo`` (its own cache unless ``cache``)."""
        cache = cache or self.root / f"cache-{len(self._servers)}"
        server = ServerProcess(repo, *flags, log_path=self.root / f"server{len(self._servers)}.log",
                               env={"MODELPORT_CACHE_DIR": str(cache)})
        self._servers.append(server)
        return server

    def close(self) -> None:
        """Stop every server still running."""
        for server in self._servers:
            if server.alive():
                server.stop()


def echo_repo(bench: Bench, name: str) -> Path:
    repo = bench.repo(name)
    fake_model(repo, ECHO, max_batch=64, extra=BATCHED)
    fake_model(repo, SLOW, delay_ms=300)
    return repo


def connections(bench: Bench) -> None:
    server = bench.serve(echo_repo(bench, "connections"))
    bench.rows.append(asyncio.run(http_storm(server.http_port, ECHO, 1000, bench.n(10))))
    bench.rows.append(asyncio.run(grpc_storm(server.grpc_url, ECHO, 1000, bench.n(4))))
    server.stop()


def slow_clients(bench: Bench) -> None:
    server = bench.serve(echo_repo(bench, "slowloris"))
    asyncio.run(fresh_client(server.http_port, ECHO, 100))  # warm-up
    alone = asyncio.run(fresh_client(server.http_port, ECHO, bench.n(500)))
    alone.scenario = "fresh client, alone"
    bench.rows.append(alone)
    bench.rows.append(asyncio.run(slowloris(server.http_port, 200, 200, 5.0, bench.n(500),
                                            ECHO)))
    server.stop()


def resets(bench: Bench) -> None:
    server = bench.serve(echo_repo(bench, "resets"))
    figures = Figures("HTTP clients resetting mid-request")
    before = canceled(server.http_url, SLOW)
    for _ in range(bench.n(5)):
        socks = disconnect_mid_request(server.http_port, SLOW, 10)
        wait_until(lambda: pending(server.http_url, SLOW) == 10, "ten queued", 20)
        for sock in socks[1:]:
            reset_socket(sock)
        wait_until(lambda: pending(server.http_url, SLOW) == 0, "the queue to empty", 20)
        socks[0].close()
        figures.sent += 10
    counted = canceled(server.http_url, SLOW) - before
    expected = figures.sent * 9 // 10
    figures.lost = int(expected - counted)  # a reset request not counted is unaccounted for
    figures.notes = f"{int(counted)} of {expected} reset requests counted CANCELED"
    bench.rows.append(figures)
    server.stop()


async def _closed_loop_http(port: int, stop: threading.Event, figures: Figures,
                            refused: list[int], signalled: list[float],
                            finished: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    value = 0.0
    try:
        while not stop.is_set():
            value += 1
            figures.sent += 1
            started = time.perf_counter()
            writer.write(infer_request(SLOW, value))
            try:
                status, body = await asyncio.wait_for(read_response(reader), 60)
            except (asyncio.IncompleteReadError, ConnectionError, asyncio.TimeoutError) as exc:
                if signalled and time.monotonic() > signalled[0]:
                    figures.sent -= 1  # the server closed the connection after answering
                    return             # everything sent before: nothing was lost
                figures.lose(repr(exc))
                return
            if status == 503 and b"shutting down" in body:
                refused[0] += 1
                return
            if status != 200 or not echoed(body, value):
                figures.fail(f"{status} {body[:100]!r}")
                continue
            figures.latencies.append(time.perf_counter() - started)
            finished[0] += bool(signalled)
    except OSError:
        pass
    finally:
        writer.close()


async def _closed_loop_grpc(url: str, stop: threading.Event, figures: Figures,
                            refused: list[int], signalled: list[float],
                            finished: list[int]) -> None:
    client = grpcaio.InferenceServerClient(url)
    try:
        while not stop.is_set():
            x = grpcaio.InferInput("x", [1, 4], "FP32")
            x.set_data_from_numpy(np.ones((1, 4), np.float32))
            figures.sent += 1
            started = time.perf_counter()
            try:
                await client.infer(SLOW, [x], client_timeout=60)
            except InferenceServerException as exc:
                if "UNAVAILABLE" in str(exc.status()):
                    refused[0] += 1  # refused ("shutting down") or the port already closed
                    return
                figures.fail(str(exc)[:100])
                continue
            figures.latencies.append(time.perf_counter() - started)
            finished[0] += bool(signalled)
    finally:
        await client.close()


def sigterm(bench: Bench) -> None:
    repo = bench.repo("sigterm")
    fake_model(repo, SLOW, delay_ms=20, max_batch=8, extra=BATCHED)
    drain = 10.0
    server = bench.serve(repo, "--drain-timeout", str(drain))
    figures = Figures("SIGTERM under load (HTTP + gRPC, closed loop)")
    refused, finished, stop = [0], [0], threading.Event()
    signalled: list[float] = []
    exit_s = [0.0]

    async def run() -> None:
        tasks = [asyncio.ensure_future(_closed_loop_http(server.http_port, stop, figures,
                                                         refused, signalled, finished))
                 for _ in range(bench.n(32))]
        tasks += [asyncio.ensure_future(_closed_loop_grpc(server.grpc_url, stop, figures,
                                                          refused, signalled, finished))
                  for _ in range(bench.n(32))]
        await asyncio.sleep(3.0)
        signalled.append(time.monotonic())
        server.proc.send_signal(signal.SIGTERM)
        await asyncio.get_running_loop().run_in_executor(None, server.proc.wait, drain + 20)
        exit_s[0] = time.monotonic() - signalled[0]
        stop.set()
        await asyncio.wait(tasks, timeout=30)

    asyncio.run(run())
    figures.sent -= refused[0]  # refused requests are reported apart, not as sent-and-lost
    figures.notes = (f"{finished[0]} in flight at the signal answered after it, "
                     f"{refused[0]} later ones refused 503/UNAVAILABLE; exit code "
                     f"{server.proc.returncode} after {exit_s[0]:.2f} s "
                     f"(--drain-timeout {drain:g})")
    bench.rows.append(figures)


def stuck(bench: Bench) -> None:
    repo = bench.repo("stuck")
    fake_model(repo, SLOW, delay_ms=120_000)
    drain = 3.0
    server = bench.serve(repo, "--drain-timeout", str(drain))
    figures = Figures("SIGTERM with a request stuck in the runtime")
    outcome: list[str] = []

    def call() -> None:
        import tritonclient.http as httpclient
        client = httpclient.InferenceServerClient(server.http_url, network_timeout=60)
        x = httpclient.InferInput("x", [1, 4], "FP32")
        x.set_data_from_numpy(np.ones((1, 4), np.float32))
        try:
            client.infer(SLOW, [x])
            outcome.append("200")
        except InferenceServerException as exc:
            outcome.append(str(exc.status()))
        except Exception as exc:  # the connection dropped: lost
            outcome.append(repr(exc))

    thread = threading.Thread(target=call)
    thread.start()
    wait_until(lambda: pending(server.http_url, SLOW) == 1, "the stuck request", 10)
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    server.proc.wait(timeout=drain + 30)
    exited = time.monotonic() - started
    thread.join(timeout=30)
    figures.sent = 1
    figures.lost = int(outcome != ["503"])
    figures.notes = (f"answered {outcome[0] if outcome else 'never'}; exit after {exited:.2f} s "
                     f"(--drain-timeout {drain:g}; the runtime call had 117 s to go)")
    bench.rows.append(figures)


HANGING = """
import time


class TritonPythonModel:
    def initialize(self, args):
        time.sleep(300)

    def execute(self, requests):
        return []
"""


def hung_load(bench: Bench) -> None:
    from support.python_models import write_python_model

    repo = bench.repo("hung-load")
    write_python_model(repo, "hang", """
        backend: "python"
        input [ { name: "x" data_type: TYPE_FP32 dims: [ 4 ] } ]
        output [ { name: "y" data_type: TYPE_FP32 dims: [ 4 ] } ]
        """, HANGING)
    drain = 3.0
    server = bench.serve(repo, "--model-control-mode", "explicit", "--drain-timeout", str(drain))

    def load() -> None:
        import tritonclient.http as httpclient
        client = httpclient.InferenceServerClient(server.http_url, network_timeout=60)
        try:
            client.load_model("hang")
        except Exception:  # the connection closes when the server goes
            pass
        finally:
            client.close()

    thread = threading.Thread(target=load)
    thread.start()
    time.sleep(2.0)
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    server.proc.wait(timeout=drain + 30)
    exited = time.monotonic() - started
    thread.join(timeout=30)
    figures = Figures("SIGTERM while a model load hangs (Python initialize, 300 s)")
    figures.notes = (f"exit code {server.proc.returncode} after {exited:.2f} s "
                     f"(--drain-timeout {drain:g})")
    bench.rows.append(figures)


def _served(http_url: str) -> int:
    import tritonclient.http as httpclient
    client = httpclient.InferenceServerClient(http_url)
    try:
        inputs = [httpclient.InferInput(n, [1, 4], "FP32") for n in ("a", "b")]
        inputs[0].set_data_from_numpy(np.ones((1, 4), np.float32))
        inputs[1].set_data_from_numpy(np.zeros((1, 4), np.float32))
        result = client.infer("m", inputs)
        version = int(result.get_response()["model_version"])
        assert float(result.as_numpy("out")[0, 0]) == float(version)
        return version
    finally:
        client.close()


def sigkill(bench: Bench) -> None:
    repo = bench.repo("sigkill")
    (repo / "m" / "1").mkdir(parents=True)
    (repo / "m" / "1" / "model.onnx").write_bytes(heavy_adder(1))
    cache = bench.root / "cache-sigkill"
    poll = ("--model-control-mode", "poll", "--repository-poll-secs", "0.2")
    figures = Figures("SIGKILL mid-reload, then restart")
    hit = 0
    server = bench.serve(repo, *poll, cache=cache)
    for version in range(2, 2 + bench.n(5)):
        staging = bench.root / f"staging-{version}"
        staging.mkdir()
        (staging / "model.onnx").write_bytes(heavy_adder(version))
        os.rename(staging, repo / "m" / str(version))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not loading(cache):
            time.sleep(0.001)
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(timeout=10)
        hit += f"loaded model 'm' version {version}" not in server.log()
        server = bench.serve(repo, *poll, cache=cache)
        figures.sent += 1
        try:
            if _served(server.http_url) != version:
                figures.fail(f"restart did not serve version {version}")
        except Exception as exc:
            figures.fail(repr(exc))
    server.stop()
    figures.notes = f"{hit} of {figures.sent} kills landed mid-load; the check is one request"
    bench.rows.append(figures)


def files(bench: Bench) -> None:
    def truncate(path: Path) -> None:
        with path.open("r+b") as f:
            f.truncate(4096)

    def replace(path: Path) -> None:
        tmp = path.with_name(".swap")
        tmp.write_bytes(heavy_adder(9))
        os.replace(tmp, path)

    mutations: dict[str, Callable[[Path], None]] = {
        "truncated": truncate, "replaced": replace,
        "deleted": lambda p: shutil.rmtree(p.parent)}
    total = Figures("model files truncated / replaced / deleted mid-load (poll mode)")
    rounds = bench.n(2)
    for name, act in mutations.items():
        for i in range(rounds):
            repo = bench.repo(f"files-{name}-{i}")
            (repo / "m" / "1").mkdir(parents=True)
            (repo / "m" / "1" / "model.onnx").write_bytes(heavy_adder(1))
            cache = bench.root / f"cache-files-{name}-{i}"
            busy = functools.partial(loading, cache)
            server = bench.serve(repo, "--model-control-mode", "poll",
                                 "--repository-poll-secs", "0.2", cache=cache)
            with AdderTraffic(server.http_url, "m") as traffic:
                staging = bench.root / f"staging-files-{name}-{i}"
                staging.mkdir()
                (staging / "model.onnx").write_bytes(heavy_adder(2))
                os.rename(staging, repo / "m" / "2")
                wait_until(busy, "the load", 20, every_s=0.001)
                act(repo / "m" / "2" / "model.onnx")
                time.sleep(2.0)
            server.stop()
            f = traffic.figures
            total.sent += f.sent
            total.failed += f.failed
            total.errors += f.errors
            total.latencies += f.latencies
    total.notes = f"{3 * rounds} loads disturbed"
    bench.rows.append(total)


SCENARIOS: dict[str, Callable[[Bench], None]] = {
    "connections": connections, "slowloris": slow_clients, "resets": resets,
    "sigterm": sigterm, "stuck": stuck, "hung-load": hung_load, "sigkill": sigkill,
    "files": files}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply request counts and rounds (default 1.0)")
    parser.add_argument("--only", default=",".join(SCENARIOS),
                        help=f"comma-separated scenarios (default all: {', '.join(SCENARIOS)})")
    args = parser.parse_args()
    print(f"open-file limit: {raise_nofile(8192)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="modelport-chaos-") as tmp:
        bench = Bench(Path(tmp), args.scale)
        try:
            for name in args.only.split(","):
                started = time.monotonic()
                SCENARIOS[name](bench)
                print(f"{name}: {time.monotonic() - started:.1f} s", flush=True)
                for figures in bench.rows[-2:]:
                    if figures.errors:
                        print(f"  {figures.scenario}: {figures.errors[:3]}", flush=True)
        finally:
            bench.close()
    print()
    print(table(bench.rows))


if __name__ == "__main__":
    main()
