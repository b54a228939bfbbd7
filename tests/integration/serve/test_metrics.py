"""/metrics after known traffic: exact counts, Triton's names, histograms, stats agreement."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.http as httpclient
from prometheus_client.parser import text_string_to_metric_families
from support.models import add_model, write_model
from tritonclient.utils import InferenceServerException

from modelport.serve.host import read_cpu_times, read_memory

SLOW = ('backend: "fake" max_batch_size: 8 '
        'input [{ name: "x" data_type: TYPE_FP32 dims: [ 2 ] }] '
        'output [{ name: "y" data_type: TYPE_FP32 dims: [ 2 ] }] '
        'dynamic_batching { default_queue_policy { max_queue_size: 1 '
        '                                          allow_timeout_override: true } } '
        'parameters { key: "delay_ms" value { string_value: "400" } }')


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample as {(name, sorted labels): value}."""
    with urllib.request.urlopen(url) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def exposition(url: str) -> str:
    with urllib.request.urlopen(url) as response:
        return response.read().decode()


def families(url: str) -> dict[str, Any]:
    """Every family by name, as prometheus_client's parser reads it."""
    return {f.name: f for f in text_string_to_metric_families(exposition(url))}


def gauge(fams: dict[str, Any], name: str) -> float:
    """The one unlabelled sample of a gauge family."""
    family = fams[name]
    assert family.type == "gauge", (name, family.type)
    (sample,) = family.samples
    assert sample.name == name and sample.labels == {}
    return float(sample.value)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path):
    from support.server import ServerProcess

    repo = tmp_path_factory.mktemp("metrics")
    write_model(repo, "add", add_model())
    (repo / "add" / "config.pbtxt").write_text(
        "max_batch_size: 8 dynamic_batching { max_queue_delay_microseconds: 20000 }")
    (repo / "slow" / "1").mkdir(parents=True)
    (repo / "slow" / "config.pbtxt").write_text(SLOW)
    proc = ServerProcess(repo, "--metrics-port", "0",
                         log_path=tmp_path_factory.mktemp("log") / "server.log",
                         env={"MODELPORT_CACHE_DIR": str(cache_dir)})
    yield proc
    proc.stop()


def _x(value: float, model: str = "slow") -> list[httpclient.InferInput]:
    if model == "slow":
        x = httpclient.InferInput("x", [1, 2], "FP32")
        x.set_data_from_numpy(np.full((1, 2), value, np.float32))
        return [x]
    tensors = []
    for name in ("a", "b"):
        t = httpclient.InferInput(name, [1, 4], "FP32")
        t.set_data_from_numpy(np.full((1, 4), value, np.float32))
        tensors.append(t)
    return tensors


def test_counts_rejections_timeouts_and_histograms(server) -> None:
    """Success, REJECTED (queue full and timeout), OTHER, histograms and stats agree exactly."""
    client = httpclient.InferenceServerClient(server.http_url, concurrency=4)
    client.infer("slow", _x(1.0))  # one plain success
    # One running, one queued, the third finds the queue full.
    running = client.async_infer("slow", _x(2.0))
    time.sleep(0.1)
    queued = client.async_infer("slow", _x(3.0))
    time.sleep(0.1)
    with pytest.raises(InferenceServerException) as full:
        client.infer("slow", _x(4.0))
    assert full.value.status() == "503" and "queue" in str(full.value)
    running.get_result()
    queued.get_result()
    # A request whose timeout expires while it waits behind a running one.
    running = client.async_infer("slow", _x(5.0))
    time.sleep(0.1)
    with pytest.raises(InferenceServerException) as late:
        client.infer("slow", _x(6.0), timeout=50_000)
    assert late.value.status() == "503" and "timeout" in str(late.value)
    running.get_result()
    with pytest.raises(InferenceServerException):  # wrong shape: OTHER
        bad = httpclient.InferInput("x", [1, 3], "FP32")
        bad.set_data_from_numpy(np.ones((1, 3), np.float32))
        client.infer("slow", [bad])

    m = scrape(f"http://{server.http_url}/metrics")
    labels = {"model": "slow", "version": "1"}
    assert value(m, "nv_inference_request_success_total", **labels) == 4
    assert value(m, "nv_inference_request_failure_total", **labels, reason="REJECTED") == 2
    assert value(m, "nv_inference_request_failure_total", **labels, reason="OTHER") == 1
    assert value(m, "nv_inference_request_failure_total", **labels, reason="BACKEND") == 0
    assert value(m, "modelport_queue_rejections_total", **labels) == 1
    assert value(m, "modelport_queue_timeouts_total", **labels) == 1
    assert value(m, "modelport_request_duration_seconds_count", **labels) == 4 + 3
    assert value(m, "modelport_queue_duration_seconds_count", **labels) == 4
    assert value(m, "nv_inference_pending_request_count", **labels) == 0
    stats = client.get_inference_statistics("slow")["model_stats"][0]
    assert stats["inference_stats"]["success"]["count"] == 4
    assert stats["inference_stats"]["fail"]["count"] == 3
    assert value(m, "nv_inference_exec_count_total", **labels) == stats["execution_count"]
    assert value(m, "nv_inference_count_total", **labels) == stats["inference_count"]


def test_batching_counts_inferences_and_executions(server) -> None:
    """Under concurrent load, nv_inference_count > nv_inference_exec_count; batch sizes add up."""
    before = scrape(f"http://{server.http_url}/metrics")
    labels = {"model": "add", "version": "1"}
    base_count = value(before, "nv_inference_count_total", **labels)

    def client_thread(index: int) -> None:
        with httpclient.InferenceServerClient(server.http_url) as client:
            for i in range(3):
                client.infer("add", _x(float(index * 3 + i), "add"))

    threads = [threading.Thread(target=client_thread, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    m = scrape(f"http://{server.http_url}/metrics")
    count = value(m, "nv_inference_count_total", **labels) - base_count
    execs = value(m, "nv_inference_exec_count_total", **labels)
    assert count == 48
    assert execs < value(m, "nv_inference_count_total", **labels)
    assert value(m, "modelport_batch_size_count", **labels) == execs
    assert value(m, "modelport_batch_size_sum", **labels) == value(
        m, "nv_inference_count_total", **labels)
    assert value(m, "modelport_request_duration_seconds_count", **labels) == value(
        m, "nv_inference_request_success_total", **labels)


def test_metrics_port_and_lifecycle_metrics(server) -> None:
    """The metrics port serves the same exposition; loads, state and memory are reported."""
    text = server.log()
    port = int(text.split("metrics http://127.0.0.1:")[1].split("/")[0])
    m = scrape(f"http://127.0.0.1:{port}/metrics")
    assert value(m, "modelport_model_loads_total", model="add", outcome="success") == 1
    assert value(m, "modelport_model_state", model="slow", version="1", state="READY") == 1
    assert value(m, "modelport_model_load_duration_seconds_count", model="add") == 1
    assert value(m, "process_resident_memory_bytes") > 10_000_000
    assert ("modelport_model_memory_rss_bytes", (("model", "add"), ("version", "1"))) in m
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready")


def test_cancelled_requests_are_counted(server) -> None:
    """A gRPC call cancelled by its client while queued is counted as CANCELED."""
    import tritonclient.grpc as grpcclient

    client = httpclient.InferenceServerClient(server.http_url)
    url = f"http://{server.http_url}/metrics"
    labels = {"model": "slow", "version": "1"}
    before = scrape(url).get(("nv_inference_request_failure_total", tuple(sorted(
        {**labels, "reason": "CANCELED"}.items()))), 0.0)
    running = threading.Thread(target=lambda: client.infer("slow", _x(7.0)))
    running.start()
    _until(lambda: value(scrape(url), "nv_inference_pending_request_count", **labels) == 1)
    grpc = grpcclient.InferenceServerClient(server.grpc_url)
    x = grpcclient.InferInput("x", [1, 2], "FP32")
    x.set_data_from_numpy(np.ones((1, 2), np.float32))
    call = grpc.async_infer("slow", [x], callback=lambda result, error: None)
    _until(lambda: value(scrape(url), "nv_inference_pending_request_count", **labels) == 2)
    call.cancel()  # the client gives up while the request waits in the queue
    running.join()
    _until(lambda: value(scrape(url), "nv_inference_request_failure_total", reason="CANCELED",
                         **labels) == before + 1)


def _until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_triton_cpu_metrics_carry_real_values(server) -> None:
    """nv_cpu_*: unlabelled gauges; utilization is the machine's busy share over the window
    between two scrapes, RAM total and used (total - available) match /proc/meminfo."""
    url = f"http://{server.http_url}/metrics"
    time.sleep(1.1)  # past the 1 s minimum window, so the next scrape starts a fresh one
    families(url)
    start = read_cpu_times()
    time.sleep(2.0)
    end = read_cpu_times()
    fams = families(url)
    ram = read_memory()
    assert start is not None and end is not None and ram is not None
    busy, idle = end.busy - start.busy, end.idle - start.idle
    utilization = gauge(fams, "nv_cpu_utilization")
    assert 0.0 <= utilization <= 1.0
    assert utilization == pytest.approx(busy / (busy + idle), abs=0.1)
    total = gauge(fams, "nv_cpu_memory_total_bytes")
    used = gauge(fams, "nv_cpu_memory_used_bytes")
    assert total == ram.total_bytes
    assert 0 < used <= total
    assert used == pytest.approx(ram.used_bytes, abs=0.05 * total)


def _has_nvml() -> bool:
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return False
    return True


@pytest.mark.skipif(_has_nvml(), reason="an NVIDIA driver is present")
def test_no_gpu_families_without_a_driver(server) -> None:
    """Without libnvidia-ml the exposition has no GPU family at all, and scrapes still work."""
    fams = families(f"http://{server.http_url}/metrics")
    assert "nv_cpu_utilization" in fams
    assert not [name for name in fams if "gpu" in name]


# Triton's names break two of promtool's naming lints (counters without _total, microseconds
# in the name); dashboards depend on them, so these findings are expected and nothing else is.
TRITON_NAMES = {"nv_inference_request_success", "nv_inference_request_failure",
                "nv_inference_count", "nv_inference_exec_count",
                "nv_inference_request_duration_us", "nv_inference_queue_duration_us",
                "nv_inference_compute_input_duration_us", "nv_inference_compute_infer_duration_us",
                "nv_inference_compute_output_duration_us", "nv_inference_pending_request_count"}


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool is not installed (apt-get install -y prometheus)")
def test_promtool_accepts_the_whole_exposition(server) -> None:
    """promtool check metrics parses every line; lint findings name only Triton's fixed names."""
    text = exposition(f"http://{server.http_url}/metrics")
    assert "nv_cpu_memory_total_bytes" in text and "nv_inference_count" in text
    done = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                          text=True, timeout=30)
    findings = (done.stdout + done.stderr).strip().splitlines()
    assert done.returncode in (0, 3), findings  # 1 would be a parse error
    assert not [f for f in findings if f.split(" ", 1)[0] not in TRITON_NAMES], findings
