"""Stateful models through the sequence batcher, with tritonclient over real sockets: HTTP,
gRPC, gRPC streaming and the asyncio HTTP client, several sequences at once, and every error
a client can meet (Triton's words where its QA suite checks them)."""

from __future__ import annotations

import asyncio
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
import tritonclient.http.aio as httpaio
from support.inprocess import InProcessServer
from support.models import write_model
from support.sequence_models import accumulator, simple_sequence_config, write_sequence_models
from tritonclient.utils import InferenceServerException

Client = Any  # tritonclient.http or tritonclient.grpc InferenceServerClient


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    """The sequence models of support/sequence_models.py plus a few for limits and errors."""
    repo = write_sequence_models(tmp_path_factory.mktemp("models"))
    write_model(repo, "one_slot", accumulator(False), config=simple_sequence_config(
        "one_slot", max_batch_size=0, extra="max_sequence_idle_microseconds: 30000000",
        parameters='parameters { key: "max_sequence_backlog" value { string_value: "1" } }'))
    write_model(repo, "short_idle", accumulator(False), config=simple_sequence_config(
        "short_idle", max_batch_size=0, extra="max_sequence_idle_microseconds: 500000"))
    write_model(repo, "from_file", accumulator(), config=simple_sequence_config(
        "from_file", state='state [{ input_name: "INPUT_STATE" output_name: "OUTPUT_STATE" '
        'data_type: TYPE_INT32 dims: [ 1 ] initial_state { data_type: TYPE_INT32 dims: [ 1 ] '
        'data_file: "hundred" name: "h" } }]').replace(
        'kind: CONTROL_SEQUENCE_START int32_false_true: [ 0, 1 ]',
        'kind: CONTROL_SEQUENCE_START int32_false_true: [ 0, 0 ]'))
    (repo / "from_file" / "initial_state").mkdir()
    (repo / "from_file" / "initial_state" / "hundred").write_bytes(
        np.array([100], "<i4").tobytes())
    write_model(repo, "warmed", accumulator(), config=simple_sequence_config(
        "warmed", parameters='model_warmup [{ name: "w" batch_size: 2 inputs { key: "INPUT" '
        'value { data_type: TYPE_INT32 dims: [ 1 ] zero_data: true } } }]'))
    write_model(repo, "broken", accumulator(), config=simple_sequence_config(
        "broken").replace('name: "READY"', 'name: "NOPE"'))
    srv = InProcessServer(repo, cache_dir=tmp_path_factory.mktemp("cache"),
                          strict_readiness=False)
    yield srv
    srv.stop()


@pytest.fixture(params=["http", "grpc"])
def client(request: pytest.FixtureRequest, server: InProcessServer) -> Iterator[Client]:
    """A tritonclient of each protocol."""
    if request.param == "http":
        c: Client = httpclient.InferenceServerClient(server.http_url)
    else:
        c = grpcclient.InferenceServerClient(server.grpc_url)
    yield c
    c.close()


def _input(client: Client, value: int, shape: list[int], name: str = "INPUT") -> Any:
    module = httpclient if isinstance(client, httpclient.InferenceServerClient) else grpcclient
    tensor = module.InferInput(name, shape, "INT32")
    tensor.set_data_from_numpy(np.full(shape, value, dtype=np.int32))
    return tensor


def _output(client: Client, name: str) -> Any:
    module = httpclient if isinstance(client, httpclient.InferenceServerClient) else grpcclient
    return module.InferRequestedOutput(name)


def _infer(client: Client, model: str, value: int, corrid: int | str, start: bool = False,
           end: bool = False, shape: list[int] | None = None) -> int:
    result = client.infer(model, [_input(client, value, shape or [1, 1])], sequence_id=corrid,
                          sequence_start=start, sequence_end=end)
    return int(result.as_numpy("OUTPUT").ravel()[0])


def _run_sequence(client: Client, model: str, corrid: int | str, values: list[int],
                  shape: list[int] | None = None) -> list[int]:
    last = len(values) - 1
    return [_infer(client, model, v, corrid, start=i == 0, end=i == last, shape=shape)
            for i, v in enumerate(values)]


def _wait_for_pending(server: InProcessServer, model: str, count: int) -> None:
    """Wait (bounded) until ``count`` requests of ``model`` wait in its scheduler."""
    async def pending() -> int:
        assert server.server.manager is not None
        return server.server.manager.get(model).scheduler.pending
    deadline = time.monotonic() + 30
    while server.call(pending()) < count:
        assert time.monotonic() < deadline, f"{model} never had {count} requests waiting"
        time.sleep(0.01)


def _error(call: Any) -> InferenceServerException:
    with pytest.raises(InferenceServerException) as info:
        call()
    return info.value


def test_running_sums_over_http_and_grpc(client: Client) -> None:
    """simple_sequence adds up each sequence's inputs, batched and unbatched, with integer
    (up to 2^63 - 1 over gRPC, 2^64 - 1 over HTTP) and string correlation IDs."""
    assert _run_sequence(client, "simple_sequence", 17, [1, 2, 3, 4]) == [1, 3, 6, 10]
    assert _run_sequence(client, "simple_sequence", "a-1", [5, -2]) == [5, 3]
    assert _run_sequence(client, "simple_sequence_nobatch", 3, [7, 7, 7], shape=[1]) == [
        7, 14, 21]
    big = 2**64 - 1 if isinstance(client, httpclient.InferenceServerClient) else 2**63 - 1
    assert _run_sequence(client, "simple_sequence", big, [2, 2]) == [2, 4]


def test_a_second_start_restarts_the_sequence(client: Client) -> None:
    """START on a sequence in flight starts it again (Triton ends the old one early)."""
    assert _infer(client, "simple_sequence", 5, 40, start=True) == 5
    assert _infer(client, "simple_sequence", 5, 40) == 10
    assert _infer(client, "simple_sequence", 1, 40, start=True) == 1
    assert _infer(client, "simple_sequence", 1, 40, end=True) == 2


def test_string_ids_reach_the_corrid_tensor_under_oldest_batching(server: InProcessServer,
                                                                  ) -> None:
    """Concurrent sequences with string IDs share Oldest batches; each row's CORRID and END
    are its own request's."""
    def run(corrid: str) -> list[tuple[int, str, int]]:
        with grpcclient.InferenceServerClient(server.grpc_url) as c:
            rows = []
            for i, v in enumerate([1, 2, 3, 4]):
                r = c.infer("string_sequence", [_input(c, v, [1, 1])], sequence_id=corrid,
                            sequence_start=i == 0, sequence_end=i == 3)
                rows.append((int(r.as_numpy("OUTPUT")[0, 0]),
                             r.as_numpy("CORRID_OUT")[0, 0].decode(),
                             int(r.as_numpy("END_OUT")[0, 0])))
            return rows
    ids = [f"user-{i}-é" for i in range(6)]
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(run, ids))
    for corrid, rows in zip(ids, results, strict=True):
        assert rows == [(1, corrid, 0), (3, corrid, 0), (6, corrid, 0), (10, corrid, 1)]


def test_interleaved_sequences_under_concurrency_are_exact(server: InProcessServer) -> None:
    """Twelve threads run sequences on dyna_sequence (Oldest, two instances), alternating HTTP
    and gRPC per request: every sum is exact, the END request adds the correlation ID, and
    requests of different sequences did share batches."""
    def run(corrid: int) -> list[int]:
        http = httpclient.InferenceServerClient(server.http_url)
        grpc = grpcclient.InferenceServerClient(server.grpc_url)
        try:
            return [_infer(http if i % 2 else grpc, "dyna_sequence", corrid + i, corrid,
                           start=i == 0, end=i == 9) for i in range(10)]
        finally:
            http.close()
            grpc.close()
    ids = list(range(1000, 1012))
    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(run, ids))
    for corrid, sums in zip(ids, results, strict=True):
        expected = list(np.cumsum([corrid + i for i in range(10)]))
        expected[-1] += corrid
        assert sums == expected
    with httpclient.InferenceServerClient(server.http_url) as c:
        stats = c.get_inference_statistics("dyna_sequence")["model_stats"][0]
    assert stats["inference_count"] == 120
    assert stats["execution_count"] < 120  # Oldest merged sequences into batches


def test_grpc_stream_carries_interleaved_sequences(server: InProcessServer) -> None:
    """Four sequences interleaved on one gRPC stream (async_stream_infer) each get their
    running sums."""
    answers: queue.Queue[tuple[Any, Any]] = queue.Queue()
    with grpcclient.InferenceServerClient(server.grpc_url) as c:
        c.start_stream(callback=lambda result, error: answers.put((result, error)))
        for step in range(5):
            for seq in range(4):
                c.async_stream_infer("simple_sequence", [_input(c, seq + step, [1, 1])],
                                     request_id=f"{seq}:{step}", sequence_id=500 + seq,
                                     sequence_start=step == 0, sequence_end=step == 4)
        got: dict[str, int] = {}
        for _ in range(20):
            result, error = answers.get(timeout=30)
            assert error is None, error
            got[result.get_response().id] = int(result.as_numpy("OUTPUT")[0, 0])
        c.stop_stream()
    for seq in range(4):
        sums = np.cumsum([seq + step for step in range(5)])
        assert [got[f"{seq}:{step}"] for step in range(5)] == list(sums)


def test_asyncio_http_client_runs_sequences_concurrently(server: InProcessServer) -> None:
    """tritonclient.http.aio: eight sequences in flight at once, each exact."""
    async def sequence(client: httpaio.InferenceServerClient, corrid: int) -> list[int]:
        sums = []
        for i in range(6):
            tensor = httpaio.InferInput("INPUT", [1, 1], "INT32")
            tensor.set_data_from_numpy(np.array([[corrid * i]], dtype=np.int32))
            r = await client.infer("simple_sequence", [tensor], sequence_id=corrid,
                                   sequence_start=i == 0, sequence_end=i == 5)
            sums.append(int(r.as_numpy("OUTPUT")[0, 0]))
        return sums

    async def main() -> list[list[int]]:
        client = httpaio.InferenceServerClient(server.http_url)
        try:
            return list(await asyncio.gather(*(sequence(client, c) for c in range(1, 9))))
        finally:
            await client.close()
    for corrid, sums in enumerate(asyncio.run(main()), start=1):
        assert sums == list(np.cumsum([corrid * i for i in range(6)]))


@pytest.mark.parametrize(("call", "status", "words"), [
    (lambda c: _infer(c, "simple_sequence", 1, 0, start=True), "INVALID_ARGUMENT",
     "inference request to model 'simple_sequence' must specify a non-zero or non-empty "
     "correlation ID"),
    (lambda c: _infer(c, "simple_sequence", 1, 37469245), "INVALID_ARGUMENT",
     "inference request for sequence 37469245 to model 'simple_sequence' must specify the "
     "START flag on the first request of the sequence"),
    (lambda c: _infer(c, "simple_sequence", 1, 27, start=True, shape=[2, 1]),
     "INVALID_ARGUMENT", "inference request to model 'simple_sequence' must specify "
     "batch-size 1 due to requirements of sequence batcher"),
    (lambda c: _infer(c, "dyna_sequence", 1, "text", start=True), "INVALID_ARGUMENT",
     "model 'dyna_sequence' takes integer correlation IDs (its CONTROL_SEQUENCE_CORRID input "
     "'CORRID' is UINT64): sequence_id 'text' is a string; send an integer"),
    (lambda c: c.infer("simple_sequence", [_input(c, 1, [1, 1])], sequence_id=8,
                       sequence_start=True, outputs=[_output(c, "OUTPUT_STATE")]),
     "INVALID_ARGUMENT", "unexpected inference output 'OUTPUT_STATE' for model "
     "'simple_sequence'"),
    (lambda c: c.infer("simple_sequence", [_input(c, 1, [1, 1]), _input(c, 1, [1, 1], "START")],
                       sequence_id=9, sequence_start=True), "INVALID_ARGUMENT",
     "unexpected inference input 'START' for model 'simple_sequence'"),
])
def test_errors_use_tritons_words(client: Client, call: Any, status: str, words: str) -> None:
    """Each request the sequence batcher refuses is a client error with a clear message."""
    error = _error(lambda: call(client))
    assert error.message().startswith(words), error.message()
    expected = "400" if isinstance(client, httpclient.InferenceServerClient) else (
        f"StatusCode.{status}")
    assert error.status() == expected


def test_a_request_after_the_end_needs_a_new_start(client: Client) -> None:
    """Once END has been sent the ID is free: more requests for it need START."""
    _run_sequence(client, "simple_sequence", 3, [1, 2])
    error = _error(lambda: _infer(client, "simple_sequence", 55, 3))
    assert error.message().startswith("inference request for sequence 3 to model "
                                      "'simple_sequence' must specify the START flag")


def test_idle_sequences_expire(server: InProcessServer) -> None:
    """After max_sequence_idle_microseconds without a request the sequence is gone, and the
    error says so."""
    with httpclient.InferenceServerClient(server.http_url) as c:
        assert _infer(c, "short_idle", 4, 77, start=True, shape=[1]) == 4
        assert _infer(c, "short_idle", 4, 77, shape=[1]) == 8  # within the idle limit
        time.sleep(1.2)
        error = _error(lambda: _infer(c, "short_idle", 4, 77, shape=[1]))
    assert error.message() == (
        "inference request for sequence 77 to model 'short_idle' must specify the START flag "
        "on the first request of the sequence; sequence 77 was ended after 500000 us without "
        "a request (max_sequence_idle_microseconds)")


def test_sequences_beyond_the_slots_queue_then_fail_clearly(server: InProcessServer) -> None:
    """one_slot holds one sequence: a second waits for the slot, a third is refused (backlog
    of one), and the waiting one runs as soon as the first ends."""
    with httpclient.InferenceServerClient(server.http_url) as c:
        assert _infer(c, "one_slot", 1, "first", start=True, shape=[1]) == 1
        waiting: list[int] = []
        second = threading.Thread(target=lambda: waiting.append(_run_sequence(
            httpclient.InferenceServerClient(server.http_url), "one_slot", "second", [5, 6],
            shape=[1])[-1]))
        second.start()
        _wait_for_pending(server, "one_slot", 1)
        assert not waiting
        with grpcclient.InferenceServerClient(server.grpc_url) as g:
            error = _error(lambda: _infer(g, "one_slot", 1, "third", start=True, shape=[1]))
        assert error.status() == "StatusCode.UNAVAILABLE"
        assert error.message().startswith(
            "inference request for sequence third to model 'one_slot' cannot start: all 1 "
            "sequence slots are taken and 1 sequences already wait for one")
        assert _infer(c, "one_slot", 2, "first", end=True, shape=[1]) == 3
        second.join(timeout=30)
    assert waiting == [11]


def test_initial_state_from_a_file(client: Client) -> None:
    """initial_state data_file seeds every sequence (START is ignored by this config's
    control values, so the model always adds the state)."""
    assert _run_sequence(client, "from_file", 1, [1, 2]) == [101, 103]


def test_metadata_config_and_load_errors(server: InProcessServer) -> None:
    """Controls and states are not client inputs; the config reports Triton's idle default;
    server metadata lists the sequence extension; a control the graph lacks fails the load
    with the reason."""
    with httpclient.InferenceServerClient(server.http_url) as c:
        meta = c.get_model_metadata("simple_sequence")
        assert [t["name"] for t in meta["inputs"]] == ["INPUT"]
        config = c.get_model_config("simple_sequence_nobatch")
        assert config["sequence_batching"]["max_sequence_idle_microseconds"] == 1_000_000
        assert "sequence" in c.get_server_metadata()["extensions"]
        index = {m["name"]: m for m in c.get_model_repository_index()}
    assert index["warmed"]["state"] == "READY"  # warm-up fed the controls and states
    assert index["broken"]["state"] == "UNAVAILABLE"
    assert "sequence_batching control input 'NOPE' is not in the ONNX graph" in (
        index["broken"]["reason"])


def test_modelport_serve_runs_a_triton_sequence_repository(start_server: Any,
                                                          tmp_path: Path) -> None:
    """The command line serves a repository in Triton's layout with a sequence model: a
    sequence over a gRPC stream, another over HTTP."""
    repo = tmp_path / "models"
    write_model(repo, "simple_sequence", accumulator(), config=simple_sequence_config())
    server = start_server(repo)
    answers: queue.Queue[tuple[Any, Any]] = queue.Queue()
    with grpcclient.InferenceServerClient(server.grpc_url) as c:
        c.start_stream(callback=lambda result, error: answers.put((result, error)))
        for i, v in enumerate([3, 4, 5]):
            c.async_stream_infer("simple_sequence", [_input(c, v, [1, 1])], sequence_id="s",
                                 sequence_start=i == 0, sequence_end=i == 2)
        sums = []
        for _ in range(3):
            result, error = answers.get(timeout=30)
            assert error is None, error
            sums.append(int(result.as_numpy("OUTPUT")[0, 0]))
        c.stop_stream()
    assert sums == [3, 7, 12]
    with httpclient.InferenceServerClient(server.http_url) as h:
        assert _run_sequence(h, "simple_sequence", 2**64 - 1, [1, 1]) == [1, 2]


def test_the_docs_example_runs_as_written(start_server: Any, tmp_path: Path) -> None:
    """docs/serve.md's sequence config loads with the accumulator, and its client example
    prints the running sums it promises."""
    doc = (Path(__file__).resolve().parents[3] / "docs" / "serve.md").read_text()
    section = doc[doc.index("## Sequence batching"):doc.index("## modelport run")]
    config = re.search(r"```protobuf\n(.*?)```", section, re.S)
    example = re.search(r"```python\n(.*?)```", section, re.S)
    assert config is not None and example is not None
    repo = tmp_path / "models"
    write_model(repo, "simple_sequence", accumulator(), config=config.group(1))
    server = start_server(repo)
    code = example.group(1).replace("127.0.0.1:8000", server.http_url)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[[1]]", "[[3]]", "[[6]]"]
