"""MLPerf Inference scenarios through LoadGen (``mlcommons-loadgen``), run inside a worker.

SingleStream, MultiStream and Offline are served inline in LoadGen's issue callback; Server
queries go to a worker thread so that LoadGen's Poisson arrivals are never held up by compute.
"""

from __future__ import annotations

import importlib
import queue
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modelport.bench.backends.base import Array, Backend
from modelport.bench.inputs import make_batch, read_signature
from modelport.bench.job import Job
from modelport.bench.loadgen_summary import parse_summary, summary_metrics
from modelport.errors import MissingExtra

# Official minimums of MLPerf Inference (datacenter/edge rules): 600 s and these query counts.
COMPLIANT_DURATION_S = 600.0
COMPLIANT_QUERIES = {"singlestream": 1024, "multistream": 270336, "server": 270336, "offline": 1}
_SCENARIO_NAMES = {
    "singlestream": "SingleStream",
    "multistream": "MultiStream",
    "server": "Server",
    "offline": "Offline",
}


def import_loadgen() -> Any:
    """The mlperf_loadgen module.

    Raises:
        MissingExtra: mlcommons-loadgen is not installed.
    """
    try:
        return importlib.import_module("mlperf_loadgen")
    except ImportError:
        raise MissingExtra("mlcommons-loadgen", "bench", "MLPerf scenarios") from None


class SystemUnderTest:
    """Runs LoadGen's queries on a backend, batching the samples of one query."""

    def __init__(self, lg: Any, backend: Backend, samples: Sequence[dict[str, Array]], batch: int):
        self.lg = lg
        self.backend = backend
        self.samples = samples
        self.batch = max(1, batch)
        self.queries = 0
        self.pending: queue.Queue[list[Any] | None] = queue.Queue()
        self.thread: threading.Thread | None = None

    def run_samples(self, query_samples: Sequence[Any]) -> None:
        """Compute query samples in batches and report each as complete."""
        for start in range(0, len(query_samples), self.batch):
            chunk = query_samples[start : start + self.batch]
            stacked = {
                name: np.concatenate([self.samples[q.index][name] for q in chunk])
                for name in self.samples[0]
            }
            self.backend.run(stacked)
            self.lg.QuerySamplesComplete([self.lg.QuerySampleResponse(q.id, 0, 0) for q in chunk])
        self.queries += 1

    def issue_inline(self, query_samples: list[Any]) -> None:
        """LoadGen's issue callback for SingleStream, MultiStream and Offline."""
        self.run_samples(query_samples)

    def issue_queued(self, query_samples: list[Any]) -> None:
        """LoadGen's issue callback for Server: hand the query to the worker thread."""
        self.pending.put(query_samples)

    def start_worker(self) -> None:
        """Start the thread that serves queued (Server) queries in arrival order."""

        def loop() -> None:
            while (item := self.pending.get()) is not None:
                self.run_samples(item)

        self.thread = threading.Thread(target=loop, name="modelport-sut", daemon=True)
        self.thread.start()

    def stop_worker(self) -> None:
        """Stop the worker thread after the queries already queued."""
        if self.thread is not None:
            self.pending.put(None)
            self.thread.join()

    def flush(self) -> None:
        """LoadGen's flush callback: nothing is buffered."""


def _time_call(call: Callable[[], object], repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        call()
    return (time.perf_counter() - start) / repeats


def build_settings(lg: Any, sc: dict[str, Any], one_s: float, batch_s: float, batch: int) -> Any:
    """LoadGen TestSettings: short by default, MLPerf's minimums when compliant.

    Args:
        lg: the mlperf_loadgen module.
        sc: the ScenarioConfig as a dict.
        one_s: measured seconds for one sample.
        batch_s: measured seconds for a batch of ``batch`` samples.
        batch: the batch size the system under test uses.
    """
    name = sc["name"]
    settings = lg.TestSettings()
    settings.scenario = getattr(lg.TestScenario, _SCENARIO_NAMES[name])
    settings.mode = lg.TestMode.PerformanceOnly
    duration = COMPLIANT_DURATION_S if sc["compliant"] else sc["min_duration"]
    settings.min_duration_ms = int(duration * 1000)
    settings.min_query_count = COMPLIANT_QUERIES[name] if sc["compliant"] else sc["min_query_count"]
    if not sc["compliant"]:
        settings.max_duration_ms = int(duration * 3000)
    settings.single_stream_expected_latency_ns = int(one_s * 1e9)
    settings.multi_stream_samples_per_query = sc["samples_per_query"]
    per_query_s = batch_s if name == "multistream" else one_s * sc["samples_per_query"]
    settings.multi_stream_expected_latency_ns = int(per_query_s * 1e9)
    offline_qps = batch / batch_s
    settings.offline_expected_qps = offline_qps
    settings.server_target_qps = sc.get("target_qps") or max(0.5 / one_s, 0.1)
    bound_ms = sc.get("target_latency_ms") or max(10 * one_s * 1e3, 10.0)
    settings.server_target_latency_ns = int(bound_ms * 1e6)
    return settings


def run_scenario(backend: Backend, job: Job, emit: Callable[..., None]) -> dict[str, Any]:
    """Run the job's LoadGen scenario on a loaded backend; LoadGen's summary is kept verbatim."""
    lg = import_loadgen()
    sc = dict(job.scenario or {})
    specs = read_signature(Path(job.model))
    samples = [
        make_batch(specs, 1, job.seq_len, job.seed + i) for i in range(sc.get("sample_count", 64))
    ]
    name = sc["name"]
    batch = {"singlestream": 1, "server": 1, "multistream": sc["samples_per_query"]}.get(
        name, max(job.batch_sizes)
    )
    first_start = time.perf_counter()
    backend.run(samples[0])
    first_s = time.perf_counter() - first_start
    emit("phase", text=f"{name}: calibrating")
    one_s = _time_call(lambda: backend.run(samples[0]), max(job.warmup, 1))
    stacked = {
        k: np.concatenate([samples[i % len(samples)][k] for i in range(batch)]) for k in samples[0]
    }
    batch_s = _time_call(lambda: backend.run(stacked), 2)
    settings = build_settings(lg, sc, one_s, batch_s, batch)
    sut_obj = SystemUnderTest(lg, backend, samples, batch)
    queued = name == "server"
    issue = sut_obj.issue_queued if queued else sut_obj.issue_inline
    if queued:
        sut_obj.start_worker()
    outdir = Path(job.outdir) / f"mlperf_{job.runtime}_{job.precision}"
    outdir.mkdir(parents=True, exist_ok=True)
    log = lg.LogSettings()
    log.log_output.outdir = str(outdir)
    log.log_output.copy_summary_to_stdout = False
    sut = lg.ConstructSUT(issue, sut_obj.flush)
    qsl = lg.ConstructQSL(len(samples), len(samples), lambda _: None, lambda _: None)
    emit("phase", text=f"{name}: LoadGen running (~{settings.min_duration_ms / 1000:.0f} s)")
    try:
        lg.StartTestWithLogSettings(sut, qsl, settings, log)
    finally:
        sut_obj.stop_worker()
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
    text = (outdir / "mlperf_log_summary.txt").read_text()
    result = summary_metrics(name, parse_summary(text))
    result.update(
        name=name,
        batch_size=batch,
        queries=sut_obj.queries,
        first_call_ms=first_s * 1e3,
        compliant=bool(sc.get("compliant")),
        settings={
            "min_duration_ms": settings.min_duration_ms,
            "min_query_count": settings.min_query_count,
            "server_target_qps": settings.server_target_qps if name == "server" else None,
            "offline_expected_qps": settings.offline_expected_qps if name == "offline" else None,
        },
        summary=text,
    )
    return result
