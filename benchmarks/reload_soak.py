"""Reload soak: memory over many load/unload cycles, and latency while versions flip.

One `modelport serve` process (explicit mode, the demo repository's resnet18), three phases:
  1. steady:  client threads send a closed-loop stream of requests; nothing changes.
  2. reloads: the same stream while the main thread reloads resnet18 again and again (a load
     with a config override always builds a fresh version next to the live one, warms it, flips
     traffic and drains the old one). Every request must succeed: this is the zero-downtime part.
  3. cycles:  unload, load, then a few requests, many times. Between an unload and the next load
     the model is not found (Triton's semantics too), so no traffic runs across that gap; the
     requests after each load must all succeed. The server's RSS (VmRSS from /proc/<pid>/status)
     is sampled after every cycle.
Prints RSS at start, after the first cycles and at the end; p99 during reloads vs steady state;
failed requests; and the ratios against the targets (final RSS within 50 MB of the RSS after the
first cycles; no failed requests; p99 during reloads at most 2x steady state).

Run: .venv/bin/python benchmarks/reload_soak.py [--cycles 200] [--reloads 40] [--steady 10]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import tritonclient.http as httpclient
from _harness import modelport_server, table
from tritonclient.utils import InferenceServerException

from modelport.repository.demo import ensure_demo_repository

MODEL = "resnet18"
MB = 1024 * 1024
DRAINED = f"unloaded model '{MODEL}' version"  # logged once a retired version is freed


def rss_bytes(pid: int) -> int:
    """Resident set size of process ``pid`` (VmRSS)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def make_inputs(seed: int) -> list[httpclient.InferInput]:
    """One 1x3x224x224 image as a binary-extension input."""
    x = np.random.default_rng(seed).standard_normal((1, 3, 224, 224)).astype(np.float32)
    tensor = httpclient.InferInput("input", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x, binary_data=True)
    return [tensor]


class Stream:
    """Closed-loop client threads recording each request's latency and every failure."""

    def __init__(self, url: str, clients: int) -> None:
        self.url = url
        self.spans: list[tuple[float, float]] = []  # (start, end) of each successful request
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                         for i in range(clients)]

    def __enter__(self) -> Stream:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)

    def _run(self, seed: int) -> None:
        client = httpclient.InferenceServerClient(self.url, network_timeout=60)
        inputs = make_inputs(seed)
        outputs = [httpclient.InferRequestedOutput("logits", binary_data=True)]
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                client.infer(MODEL, inputs, outputs=outputs)
            except Exception as exc:  # every failure is counted, none is lost
                with self._lock:
                    self.failures.append(str(exc)[:200])
                continue
            with self._lock:
                self.spans.append((started, time.perf_counter()))


def percentiles(spans: list[tuple[float, float]]) -> dict[str, float]:
    """p50 / p99 latency in milliseconds and the count."""
    if not spans:
        return {"requests": 0, "p50_ms": float("nan"), "p99_ms": float("nan")}
    ms = np.asarray([end - start for start, end in spans]) * 1e3
    return {"requests": len(ms), "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99))}


def steady(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Phase 1: the stream alone."""
    with Stream(url, args.clients) as stream:
        time.sleep(args.steady)
    return {"phase": "steady", **percentiles(stream.spans), "failed": len(stream.failures),
            "first_failure": stream.failures[:1]}


def reloads(url: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Phase 2: the stream while the model is reloaded ``args.reloads`` times.

    Returns two rows: requests that overlapped a load call ("during reloads": the new version
    was loading, warming up, flipping, or the old one draining) and the others in the phase.
    """
    control = httpclient.InferenceServerClient(url, network_timeout=120)
    config = json.dumps(control.get_model_config(MODEL))
    windows: list[tuple[float, float]] = []
    with Stream(url, args.clients) as stream:
        time.sleep(0.5)
        for _ in range(args.reloads):
            started = time.perf_counter()
            control.load_model(MODEL, config=config)  # an override always builds a new version
            windows.append((started, time.perf_counter()))
            time.sleep(args.pause)
    starts = np.array([w[0] for w in windows])
    ends = np.array([w[1] for w in windows])

    def overlaps(span: tuple[float, float]) -> bool:
        return bool(np.any((starts < span[1]) & (ends > span[0])))

    during = [s for s in stream.spans if overlaps(s)]
    between = [s for s in stream.spans if not overlaps(s)]
    load_s = ends - starts
    return [
        {"phase": "during reloads", **percentiles(during), "failed": len(stream.failures),
         "first_failure": stream.failures[:1], "reloads": args.reloads,
         "reload_ms_mean": float(np.mean(load_s) * 1e3),
         "duty": float(np.sum(load_s) / (ends[-1] - starts[0]))},
        {"phase": "between reloads", **percentiles(between), "failed": 0, "first_failure": []},
    ]


def cycles(url: str, pid: int, log: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Phase 3: unload/load cycles with requests after each load.

    RSS is read twice a cycle at quiet moments: once the unloaded version has drained and been
    freed (the server logs it), and after the load and its requests.
    """
    client = httpclient.InferenceServerClient(url, network_timeout=120)
    inputs = make_inputs(99)
    unloaded: list[int] = []
    loaded: list[int] = []
    failed: list[str] = []
    requests = 0
    freed = log.read_text(errors="replace").count(DRAINED)
    for cycle in range(args.cycles):
        client.unload_model(MODEL)
        freed += 1
        wait_for_log(log, freed)
        unloaded.append(rss_bytes(pid))
        client.load_model(MODEL)
        for _ in range(args.requests):
            requests += 1
            try:
                client.infer(MODEL, inputs)
            except InferenceServerException as exc:
                failed.append(str(exc)[:200])
        loaded.append(rss_bytes(pid))
        if (cycle + 1) % max(args.cycles // 10, 1) == 0:
            print(f"  cycle {cycle + 1:4d}/{args.cycles}  RSS unloaded {unloaded[-1] / MB:6.1f} MB"
                  f"  loaded {loaded[-1] / MB:6.1f} MB", flush=True)
    return {"unloaded": unloaded, "loaded": loaded, "requests": requests, "failed": len(failed),
            "first_failure": failed[:1]}


def wait_for_log(log: Path, count: int, timeout_s: float = 60.0) -> None:
    """Wait until the server has logged ``count`` drained-and-freed versions."""
    deadline = time.monotonic() + timeout_s
    while log.read_text(errors="replace").count(DRAINED) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the server did not log a freed version within {timeout_s}s")
        time.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=200, help="unload/load cycles (default 200)")
    parser.add_argument("--first", type=int, default=5,
                        help="the 'first few cycles' RSS is taken after this many (default 5)")
    parser.add_argument("--requests", type=int, default=3,
                        help="requests after each load in the cycles phase (default 3)")
    parser.add_argument("--reloads", type=int, default=40,
                        help="reloads under traffic (default 40)")
    parser.add_argument("--pause", type=float, default=0.25,
                        help="seconds of traffic between two reloads (default 0.25)")
    parser.add_argument("--steady", type=float, default=10.0,
                        help="seconds of steady-state traffic (default 10)")
    parser.add_argument("--clients", type=int, default=2, help="client threads (default 2)")
    parser.add_argument("--log", type=Path, default=None, help="keep the server log here")
    args = parser.parse_args()
    if args.cycles < args.first:
        parser.error("--cycles must be at least --first")

    repo = ensure_demo_repository()
    with tempfile.TemporaryDirectory() as tmp:
        log = args.log or Path(tmp) / "server.log"
        context, http, _ = modelport_server(repo, "--model-control-mode", "explicit",
                                            "--load-model", MODEL, "--log-level", "info",
                                            log=log)
        url = f"127.0.0.1:{http}"
        with context as proc:
            httpclient.InferenceServerClient(url).infer(MODEL, make_inputs(0))
            rss_start = rss_bytes(proc.pid)
            print(f"server pid {proc.pid}, RSS at start {rss_start / MB:.1f} MB", flush=True)
            print(f"phase 1: {args.steady:g} s steady state, {args.clients} clients", flush=True)
            calm = steady(url, args)
            print(f"phase 2: {args.reloads} reloads under traffic", flush=True)
            busy = reloads(url, args)
            rss_after_reloads = rss_bytes(proc.pid)
            print(f"phase 3: {args.cycles} unload/load cycles", flush=True)
            soak = cycles(url, proc.pid, log, args)
    report(rss_start, rss_after_reloads, calm, busy, soak, args)


def report(rss_start: int, rss_after_reloads: int, calm: dict[str, Any],
           busy: list[dict[str, Any]], soak: dict[str, Any], args: argparse.Namespace) -> None:
    """Print the RSS table, the latency table and the targets with their ratios."""
    loaded, unloaded, k = soak["loaded"], soak["unloaded"], args.first - 1
    print()
    print(table([
        {"when": "start (model loaded, 1 request)", "loaded_mb": rss_start / MB},
        {"when": f"after steady + {args.reloads} reloads", "loaded_mb": rss_after_reloads / MB},
        {"when": f"after {args.first} unload/load cycles", "loaded_mb": loaded[k] / MB,
         "unloaded_mb": unloaded[k] / MB},
        {"when": f"after {args.cycles} unload/load cycles (end)", "loaded_mb": loaded[-1] / MB,
         "unloaded_mb": unloaded[-1] / MB},
        {"when": "highest sample during the cycles", "loaded_mb": max(loaded) / MB,
         "unloaded_mb": max(unloaded) / MB},
    ], ["when", "loaded_mb", "unloaded_mb"]))
    print()
    during, between = busy
    print(table([calm, during, between], ["phase", "requests", "p50_ms", "p99_ms", "failed"]))
    print(f"\nreloads: {during['reloads']}, {during['reload_ms_mean']:.0f} ms per load call on "
          f"average, a load in progress {during['duty']:.0%} of the phase")
    print(f"cycles:  {soak['requests']} requests after loads, {soak['failed']} failed")
    for phase in (calm, during, soak):
        if phase["first_failure"]:
            print(f"  first failure: {phase['first_failure'][0]}")
    growth = (loaded[-1] - loaded[k]) / MB
    growth_unloaded = (unloaded[-1] - unloaded[k]) / MB
    ratio = during["p99_ms"] / calm["p99_ms"]
    failed = calm["failed"] + during["failed"] + soak["failed"]
    print()
    print(table([
        {"target": "final RSS - RSS after first cycles (loaded)", "measured": f"{growth:+.1f} MB",
         "limit": "<= 50 MB", "met": "yes" if growth <= 50 else "NO"},
        {"target": "the same, model unloaded", "measured": f"{growth_unloaded:+.1f} MB",
         "limit": "<= 50 MB", "met": "yes" if growth_unloaded <= 50 else "NO"},
        {"target": "failed requests (all phases)", "measured": str(failed),
         "limit": "0", "met": "yes" if failed == 0 else "NO"},
        {"target": "p99 during reloads / steady p99", "measured": f"{ratio:.2f}x",
         "limit": "<= 2x", "met": "yes" if ratio <= 2 else "NO"},
    ], ["target", "measured", "limit", "met"]))


if __name__ == "__main__":
    main()
