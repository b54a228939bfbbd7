"""/metrics after known traffic: exact counts, Triton's names, histograms, stats agreement."""

from __future__ import annotations

import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient
from prometheus_client.parser import text_string_to_metric_families
from support.models import add_model, write_model
from tritonclient.utils import InferenceServerException

SLOW = ('backend: "fake" max_batch_size: 8 '
        'input [{ name: "x" data_type: TYPE_FP32 dims: [ 2 ] }] '
        'output [{ name: "y" data_type: TYPE_FP32 dims: [ 2 ] }] '
        'dynamic_batching { default_queue_policy { max_queue_size: 1 } } '
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
        client = httpclient.InferenceServerClient(server.http_url)
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
    running = threading.Thread(target=lambda: client.infer("slow", _x(7.0)))
    running.start()
    time.sleep(0.1)
    grpc = grpcclient.InferenceServerClient(server.grpc_url)
    x = grpcclient.InferInput("x", [1, 2], "FP32")
    x.set_data_from_numpy(np.ones((1, 2), np.float32))
    call = grpc.async_infer("slow", [x], callback=lambda result, error: None)
    time.sleep(0.1)
    call.cancel()  # the client gives up while the request waits in the queue
    running.join()
    time.sleep(0.3)
    m = scrape(f"http://{server.http_url}/metrics")
    assert value(m, "nv_inference_request_failure_total", model="slow", version="1",
                 reason="CANCELED") == 1
