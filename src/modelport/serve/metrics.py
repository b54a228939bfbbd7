"""/metrics in Prometheus text format: Triton's metric names plus what Triton lacks.

Everything is read at scrape time from the counters the statistics extension uses, so the
two always agree and serving pays nothing for metrics but a few histogram updates. The
machine's CPU, RAM and GPUs (Triton's ``nv_cpu_*`` and ``nv_gpu_*``) are read on scrape too.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from modelport.serve.gpu import NVML, GpuDevice, GpuSource
from modelport.serve.histogram import Histogram
from modelport.serve.host import CpuUtilization, HostMemory, read_memory
from modelport.serve.manager import ModelManager
from modelport.serve.memory import rss_bytes
from modelport.serve.model import ModelVersion

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_START = time.time()


def _labels(**labels: str) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return "{" + inner + "}" if inner else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class _Family:
    def __init__(self, name: str, kind: str, help_text: str) -> None:
        self.lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]  # then samples
        self.name = name

    def add(self, value: float, **labels: str) -> None:
        self.lines.append(f"{self.name}{_labels(**labels)} {_value(value)}")

    def histogram(self, hist: Histogram, scale: float = 1.0, **labels: str) -> None:
        for le, count in hist.cumulative():
            self.lines.append(f"{self.name}_bucket{_labels(**labels, le=le)} {count}")
        self.lines.append(f"{self.name}_sum{_labels(**labels)} {_value(hist.sum * scale)}")
        self.lines.append(f"{self.name}_count{_labels(**labels)} {hist.count}")


def _value(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


_PER_VERSION: list[tuple[str, str, str, Any]] = [
    ("nv_inference_request_success", "counter", "Successful inference requests",
     lambda mv: mv.stats.success.count),
    ("nv_inference_count", "counter", "Inferences performed (a batch of N counts N)",
     lambda mv: mv.stats.inference_count),
    ("nv_inference_exec_count", "counter", "Model executions (batches run)",
     lambda mv: mv.stats.execution_count),
    ("nv_inference_pending_request_count", "gauge", "Requests queued or executing",
     lambda mv: mv.scheduler.pending),
    ("nv_inference_request_duration_us", "counter",
     "Cumulative end-to-end duration of successful requests, microseconds",
     lambda mv: mv.stats.success.ns // 1000),
    ("nv_inference_queue_duration_us", "counter", "Cumulative queue time, microseconds",
     lambda mv: mv.stats.queue.ns // 1000),
    ("nv_inference_compute_input_duration_us", "counter",
     "Cumulative input preparation time, microseconds",
     lambda mv: mv.stats.compute_input.ns // 1000),
    ("nv_inference_compute_infer_duration_us", "counter",
     "Cumulative model execution time, microseconds",
     lambda mv: mv.stats.compute_infer.ns // 1000),
    ("nv_inference_compute_output_duration_us", "counter",
     "Cumulative output extraction time, microseconds",
     lambda mv: mv.stats.compute_output.ns // 1000),
    ("modelport_queue_rejections_total", "counter",
     "Requests rejected at once because the queue was full",
     lambda mv: mv.stats.rejected_queue_full),
    ("modelport_queue_timeouts_total", "counter",
     "Requests that timed out waiting in the queue", lambda mv: mv.stats.timed_out),
    ("modelport_model_load_seconds", "gauge", "How long this version took to load and warm up",
     lambda mv: mv.load_seconds),
    ("modelport_model_memory_rss_bytes", "gauge",
     "Process RSS growth while this version loaded", lambda mv: mv.rss_delta_bytes),
]

_HISTOGRAMS: list[tuple[str, str, Any]] = [
    ("modelport_request_duration_seconds", "End-to-end request latency",
     lambda mv: mv.stats.request_seconds),
    ("modelport_queue_duration_seconds", "Time requests waited in the queue",
     lambda mv: mv.stats.queue_seconds),
    ("modelport_compute_duration_seconds", "Batch execution time",
     lambda mv: mv.stats.compute_seconds),
    ("modelport_batch_size", "Size of the batches executed", lambda mv: mv.stats.batch_size),
]


def _versions(manager: ModelManager) -> Iterator[tuple[str, str, ModelVersion]]:
    for mv in manager.live():
        yield mv.name, str(mv.version), mv


def render(manager: ModelManager, *, gpus: GpuSource = NVML,
           cpu: CpuUtilization | None = None) -> bytes:
    """The full exposition: models, lifecycle, this process, and the machine."""
    families: list[_Family] = []
    live = list(_versions(manager))
    failure = _Family("nv_inference_request_failure", "counter",
                      "Failed inference requests by reason")
    for name, version, mv in live:
        for reason, count in mv.stats.failures.items():
            failure.add(count, model=name, version=version, reason=reason)
    families.append(failure)
    for metric, kind, help_text, read in _PER_VERSION:
        fam = _Family(metric, kind, help_text)
        for name, version, mv in live:
            fam.add(read(mv), model=name, version=version)
        families.append(fam)
    for metric, help_text, read in _HISTOGRAMS:
        fam = _Family(metric, "histogram", help_text)
        for name, version, mv in live:
            fam.histogram(read(mv), model=name, version=version)
        families.append(fam)
    families += _lifecycle(manager) + _process()
    families += machine(gpus, cpu or _CPU)
    return _text(families)


def render_machine(gpus: GpuSource, cpu: CpuUtilization,
                   memory: Callable[[], HostMemory | None] = read_memory) -> bytes:
    """The machine's part of the exposition alone: Triton's ``nv_cpu_*`` and ``nv_gpu_*``."""
    return _text(machine(gpus, cpu, memory))


def _text(families: list[_Family]) -> bytes:
    return ("\n".join(line for f in families for line in f.lines) + "\n").encode()


def _lifecycle(manager: ModelManager) -> list[_Family]:
    loads = _Family("modelport_model_loads_total", "counter", "Version loads by outcome")
    reloads = _Family("modelport_model_reloads_total", "counter",
                      "Loads that replaced a live version")
    unloads = _Family("modelport_model_unloads_total", "counter", "Explicit unloads")
    seconds = _Family("modelport_model_load_duration_seconds", "histogram",
                      "Load and warm-up time of each version load attempt")
    for name, stats in manager.lifecycle():
        for outcome, count in stats.loads.items():
            loads.add(count, model=name, outcome=outcome)
        reloads.add(stats.reloads, model=name)
        unloads.add(stats.unloads, model=name)
        seconds.histogram(stats.load_seconds, model=name)
    state = _Family("modelport_model_state", "gauge",
                    "1 for each model version's current state (READY or UNAVAILABLE)")
    for row in manager.index():
        state.add(1, model=row.name, version=row.version, state=row.state or "UNAVAILABLE")
    return [loads, reloads, unloads, seconds, state]


def _process() -> list[_Family]:
    rss = _Family("process_resident_memory_bytes", "gauge", "Resident memory of the server")
    rss.add(rss_bytes())
    start = _Family("process_start_time_seconds", "gauge", "Start time, seconds since epoch")
    start.add(_START)
    cpu = _Family("process_cpu_seconds_total", "counter", "User and system CPU time")
    times = os.times()
    cpu.add(times.user + times.system)
    return [rss, start, cpu]


_CPU = CpuUtilization()  # its first window opens when the server imports this module


def machine(gpus: GpuSource, cpu: CpuUtilization,
            memory: Callable[[], HostMemory | None] = read_memory) -> list[_Family]:
    """CPU and RAM of the whole machine, and each GPU, under Triton's names and labels."""
    util = _Family("nv_cpu_utilization", "gauge", "Busy share of all CPU cores, 0.0 to 1.0")
    total = _Family("nv_cpu_memory_total_bytes", "gauge", "System RAM, bytes")
    used = _Family("nv_cpu_memory_used_bytes", "gauge",
                   "System RAM in use (total minus available), bytes")
    ratio = cpu.ratio()
    if ratio is not None:
        util.add(ratio)
    ram = memory()
    if ram is not None:
        total.add(ram.total_bytes)
        used.add(ram.used_bytes)
    # A family with no sample (no GPU, no /proc) is left out rather than announced empty.
    return [f for f in (util, total, used, *_gpus(gpus.devices())) if f.lines[2:]]


# Triton's GPU families, labelled gpu_uuid only, so its dashboards' queries match as they are.
_NV_GPU: list[tuple[str, str, Callable[[GpuDevice], float | None]]] = [
    ("nv_gpu_utilization", "GPU busy share over the driver's sample period, 0.0 to 1.0",
     lambda g: g.utilization),
    ("nv_gpu_memory_total_bytes", "GPU memory, bytes", lambda g: g.total_bytes),
    ("nv_gpu_memory_used_bytes", "GPU memory in use by every process, bytes",
     lambda g: g.used_bytes),
    ("nv_gpu_power_usage", "GPU power draw, watts", lambda g: g.power_watts),
    ("nv_gpu_power_limit", "GPU power management limit, watts", lambda g: g.power_limit_watts),
]


def _gpus(devices: list[GpuDevice]) -> list[_Family]:
    families = []
    for metric, help_text, read in _NV_GPU:
        fam = _Family(metric, "gauge", help_text)
        for g in devices:
            reading = read(g)
            if reading is not None:
                fam.add(reading, gpu_uuid=g.uuid)
        families.append(fam)
    used = _Family("modelport_gpu_memory_used_bytes", "gauge", "Memory used on each GPU")
    mine = _Family("modelport_gpu_process_memory_bytes", "gauge",
                   "GPU memory used by this process")
    total = _Family("modelport_gpu_memory_total_bytes", "gauge", "Memory of each GPU")
    for g in devices:
        labels = {"gpu": str(g.index), "name": g.name}
        used.add(g.used_bytes, **labels)
        mine.add(g.process_bytes, **labels)
        total.add(g.total_bytes, **labels)
    return [*families, used, mine, total]
