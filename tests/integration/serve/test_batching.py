"""Dynamic batching, queue limits, timeouts and instances, seen through tritonclient."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from support.server import ServerProcess
from tritonclient.utils import InferenceServerException


def _fake(name: str, repo: Path, delay_ms: int, extra: str = "") -> None:
    (repo / name / "1").mkdir(parents=True)
    (repo / name / "config.pbtxt").write_text(
        f'backend: "fake" max_batch_size: 8 '
        'input [{ name: "x" data_type: TYPE_FP32 dims: [ 2 ] }] '
        'output [{ name: "y" data_type: TYPE_FP32 dims: [ 2 ] }] '
        f'parameters {{ key: "delay_ms" value {{ string_value: "{delay_ms}" }} }} {extra}')


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path):
    from modelport.repository.demo import write_demo_repository

    repo = write_demo_repository(tmp_path_factory.mktemp("batching") / "models")
    (repo / "mlp" / "config.pbtxt").write_text(
        (repo / "mlp" / "config.pbtxt").read_text().replace(
            "dynamic_batching {", "dynamic_batching { max_queue_delay_microseconds: 5000"))
    _fake("two", repo, 300, "dynamic_batching { } instance_group [{ count: 2 }]")
    _fake("one", repo, 300, "dynamic_batching { }")
    _fake("bounded", repo, 300, "dynamic_batching { default_queue_policy { max_queue_size: 2 "
                                "default_timeout_microseconds: 100000 } }")
    _fake("queue2", repo, 300, "dynamic_batching { default_queue_policy { max_queue_size: 2 } }")
    proc = ServerProcess(repo, log_path=tmp_path_factory.mktemp("log") / "server.log",
                         env={"MODELPORT_CACHE_DIR": str(cache_dir)})
    yield proc, repo
    proc.stop()


def _run_threads(count: int, target) -> list[object]:
    results: list[object] = [None] * count

    def work(i: int) -> None:
        try:
            results[i] = target(i)
        except Exception as exc:  # collected and asserted on by the caller
            results[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_batched_results_equal_unbatched(server) -> None:
    """Concurrent requests are merged into batches and each gets exactly its own answer."""
    proc, repo = server
    session = ort.InferenceSession(str(repo / "mlp" / "1" / "model.onnx"))
    inputs = [np.random.default_rng(i).standard_normal((1 + i % 3, 64)).astype(np.float32)
              for i in range(24)]
    http = httpclient.InferenceServerClient(proc.http_url)
    before = http.get_inference_statistics("mlp")["model_stats"][0]

    # every client connects first, then all send at once: a request answered before the next
    # arrives is not batched (a lone request never waits), and connecting takes longer than
    # answering, so sends that trail their own connects would rarely overlap
    start = threading.Barrier(len(inputs))

    def one(i: int) -> np.ndarray:
        client = httpclient.InferenceServerClient(proc.http_url)
        x = httpclient.InferInput("input", list(inputs[i].shape), "FP32")
        x.set_data_from_numpy(inputs[i])
        assert client.is_server_live()  # opens this client's connection
        start.wait(timeout=30)
        return client.infer("mlp", [x]).as_numpy("output")

    results = _run_threads(len(inputs), one)
    for x, got in zip(inputs, results, strict=True):
        assert isinstance(got, np.ndarray), got
        np.testing.assert_allclose(got, session.run(None, {"input": x})[0], rtol=1e-5,
                                   atol=1e-5)
    after = http.get_inference_statistics("mlp")["model_stats"][0]
    inferences = after["inference_count"] - before["inference_count"]
    executions = after["execution_count"] - before["execution_count"]
    assert inferences == sum(len(x) for x in inputs)
    assert executions < len(inputs), "no two requests were ever batched"


def test_lone_request_is_not_delayed_by_max_queue_delay(server) -> None:
    """A sequential client's request runs at once: server-side queue time stays far below the
    configured 5 ms delay."""
    proc, _ = server
    client = httpclient.InferenceServerClient(proc.http_url)
    time.sleep(1.2)  # let the contention window from earlier tests pass
    before = client.get_inference_statistics("mlp")["model_stats"][0]["inference_stats"]
    x = httpclient.InferInput("input", [1, 64], "FP32")
    x.set_data_from_numpy(np.ones((1, 64), np.float32))
    for _ in range(20):
        client.infer("mlp", [x])
    after = client.get_inference_statistics("mlp")["model_stats"][0]["inference_stats"]
    queued_ns = after["queue"]["ns"] - before["queue"]["ns"]
    assert queued_ns / 20 < 2_000_000  # well under the 5 ms a waiting batcher would add


def test_two_instances_run_batches_concurrently(server) -> None:
    """With instance_group count 2, two requests of a 300 ms model finish in about one delay."""
    proc, _ = server

    def one(i: int) -> float:
        time.sleep(0.1 * i)  # the second arrives while the first is running
        client = grpcclient.InferenceServerClient(proc.grpc_url)
        x = grpcclient.InferInput("x", [1, 2], "FP32")
        x.set_data_from_numpy(np.full((1, 2), float(i), np.float32))
        started = time.monotonic()
        client.infer("two", [x])
        return time.monotonic() - started

    # The first request starts at once on one instance; the second, arriving while it runs,
    # finds the other instance free.
    started = time.monotonic()
    _run_threads(2, one)
    both = time.monotonic() - started
    stats = httpclient.InferenceServerClient(proc.http_url).get_inference_statistics("two")
    row = stats["model_stats"][0]
    if row["execution_count"] == 1:
        pytest.skip("both requests landed in one batch; nothing to observe about instances")
    assert both < 0.58, f"two executions took {both:.2f}s: serialized on one instance"


def test_stream_requests_batch_together_and_answer_in_order(server) -> None:
    """Requests sent on one gRPC stream run side by side (they batch, as Triton's stream does);
    their answers come back in the order sent, a failing request's error in its place."""
    import queue

    proc, _ = server
    stats = httpclient.InferenceServerClient(proc.http_url)
    before = stats.get_inference_statistics("one")["model_stats"][0]["execution_count"]
    answers: queue.Queue[tuple[object, object]] = queue.Queue()
    client = grpcclient.InferenceServerClient(proc.grpc_url)
    client.start_stream(callback=lambda result, error: answers.put((result, error)))
    try:
        for i in range(8):
            shape = [1, 3] if i == 5 else [1, 2]  # request 5 has a wrong shape
            x = grpcclient.InferInput("x", shape, "FP32")
            x.set_data_from_numpy(np.full(shape, float(i), np.float32))
            client.async_stream_infer("one", [x], request_id=str(i))
        got = [answers.get(timeout=20) for _ in range(8)]
    finally:
        client.stop_stream()
        client.close()
    for i, (result, error) in enumerate(got):
        if i == 5:
            assert result is None and "shape" in str(error)
            continue
        assert error is None, error
        assert result.get_response().id == str(i)
        np.testing.assert_array_equal(result.as_numpy("y"), np.full((1, 2), float(i)))
    executions = stats.get_inference_statistics("one")["model_stats"][0]["execution_count"]
    assert executions - before < 7, "each streamed request ran alone: the stream is serialized"


def test_single_instance_serializes_batches(server) -> None:
    """The control case: with one instance, two separate executions take two delays."""
    proc, _ = server

    def one(i: int) -> None:
        client = httpclient.InferenceServerClient(proc.http_url)
        x = httpclient.InferInput("x", [1, 2], "FP32")
        x.set_data_from_numpy(np.full((1, 2), float(i), np.float32))
        client.infer("one", [x])

    client = httpclient.InferenceServerClient(proc.http_url)
    before = client.get_inference_statistics("one")["model_stats"][0]["execution_count"]
    started = time.monotonic()
    one(0)
    one(1)
    assert time.monotonic() - started >= 0.6
    after = client.get_inference_statistics("one")["model_stats"][0]["execution_count"]
    assert after - before == 2


def test_full_queue_rejects_at_once_and_keeps_accepted_work(server) -> None:
    """Past max_queue_size requests get 503 immediately; every accepted request completes."""
    proc, _ = server

    def one(i: int) -> tuple[str, float]:
        client = httpclient.InferenceServerClient(proc.http_url)
        x = httpclient.InferInput("x", [1, 2], "FP32")
        x.set_data_from_numpy(np.full((1, 2), float(i), np.float32))
        started = time.monotonic()
        try:
            client.infer("queue2", [x])
            return "ok", time.monotonic() - started
        except InferenceServerException as exc:
            return str(exc.status()), time.monotonic() - started

    outcomes = _run_threads(8, one)
    codes = [code for code, _ in outcomes]
    assert "503" in codes and "ok" in codes
    assert all(code in ("ok", "503") for code in codes)
    rejected = [t for code, t in outcomes if code == "503"]
    assert max(rejected) < 0.25, "rejections must not wait for the queue"
    assert proc.alive()


def test_queue_timeout_gives_clear_error(server) -> None:
    """A request waiting longer than the config's default timeout fails with a clear 503."""
    proc, _ = server

    def one(i: int) -> str:
        time.sleep(0.05 * i)  # the second arrives while the first occupies the instance
        c = httpclient.InferenceServerClient(proc.http_url)
        x = httpclient.InferInput("x", [1, 2], "FP32")
        x.set_data_from_numpy(np.ones((1, 2), np.float32))
        try:
            c.infer("bounded", [x])
            return "ok"
        except InferenceServerException as exc:
            return f"{exc.status()} {exc}"

    first, second = _run_threads(2, one)
    assert first == "ok"
    assert second.startswith("503") and "timeout expired" in second, second
    assert httpclient.InferenceServerClient(proc.http_url).is_model_ready("bounded")
