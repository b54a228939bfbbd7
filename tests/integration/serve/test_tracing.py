"""OpenTelemetry spans: the caller's traceparent continues through HTTP and gRPC requests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from support.inprocess import InProcessServer
from support.models import write_model

sdk = pytest.importorskip("opentelemetry.sdk.trace")
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[InProcessServer,
                                                                       InMemorySpanExporter]]:
    repo = tmp_path_factory.mktemp("traced")
    (repo / "slow" / "1").mkdir(parents=True)
    (repo / "slow" / "config.pbtxt").write_text(
        'backend: "fake" max_batch_size: 8 dynamic_batching { } '
        'input [{ name: "x" data_type: TYPE_FP32 dims: [ 2 ] }] '
        'output [{ name: "y" data_type: TYPE_FP32 dims: [ 2 ] }] '
        'parameters { key: "delay_ms" value { string_value: "300" } }')
    (repo / "fast" / "1").mkdir(parents=True)
    (repo / "fast" / "config.pbtxt").write_text(
        'backend: "fake" max_batch_size: 8 dynamic_batching { } '
        'input [{ name: "x" data_type: TYPE_FP32 dims: [ 2 ] }] '
        'output [{ name: "y" data_type: TYPE_FP32 dims: [ 2 ] }]')
    (repo / "chain" / "1").mkdir(parents=True)
    (repo / "chain" / "config.pbtxt").write_text(
        'platform: "ensemble" max_batch_size: 8 '
        'input [{ name: "x" data_type: TYPE_FP32 dims: [ 2 ] }] '
        'output [{ name: "y" data_type: TYPE_FP32 dims: [ 2 ] }] '
        'ensemble_scheduling { step [ '
        '{ model_name: "fast" model_version: -1 input_map { key: "x" value: "x" } '
        '  output_map { key: "y" value: "mid" } }, '
        '{ model_name: "fast" model_version: -1 input_map { key: "x" value: "mid" } '
        '  output_map { key: "y" value: "y" } } ] }')
    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    server = InProcessServer(repo, tracer_provider=provider)
    yield server, exporter
    server.stop()


def _input(mod: object, value: float) -> object:
    x = mod.InferInput("x", [1, 2], "FP32")  # type: ignore[attr-defined]
    x.set_data_from_numpy(np.full((1, 2), value, np.float32))
    return x


def _wait_spans(exporter: InMemorySpanExporter, count: int) -> list[object]:
    deadline = time.monotonic() + 10
    while len(exporter.get_finished_spans()) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return list(exporter.get_finished_spans())


def test_http_request_continues_callers_trace(traced) -> None:
    """An HTTP request with traceparent yields infer/decode/queue/encode spans in that trace."""
    server, exporter = traced
    exporter.clear()
    client = httpclient.InferenceServerClient(server.http_url)
    client.infer("slow", [_input(httpclient, 1.0)],
                 headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
    spans = {s.name: s for s in _wait_spans(exporter, 5)}
    assert {"infer", "decode", "queue", "encode", "execute"} <= set(spans)
    root = spans["infer"]
    assert format(root.context.trace_id, "032x") == TRACE_ID
    assert format(root.parent.span_id, "016x") == PARENT_ID
    for child in ("decode", "queue", "encode"):
        assert spans[child].parent.span_id == root.context.span_id
    assert root.attributes["modelport.model"] == "slow"
    assert spans["execute"].links[0].context.span_id == root.context.span_id


def test_grpc_metadata_traceparent_and_batch_links(traced) -> None:
    """gRPC metadata carries traceparent; one batch span links every request it ran."""
    server, exporter = traced
    exporter.clear()
    client = grpcclient.InferenceServerClient(server.grpc_url)
    done: list[object] = []
    ids = [f"{i + 1:032x}" for i in range(4)]
    for trace_id in ids:  # the first occupies the instance; the next three queue and batch
        client.async_infer("slow", [_input(grpcclient, 2.0)],
                           callback=lambda result, error: done.append(error),
                           headers={"traceparent": f"00-{trace_id}-{PARENT_ID}-01"})
    deadline = time.monotonic() + 10
    while len(done) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert done == [None] * 4
    spans = _wait_spans(exporter, 4 * 4 + 2)
    roots = {format(s.context.trace_id, "032x"): s for s in spans if s.name == "infer"}
    assert set(roots) == set(ids)
    executes = [s for s in spans if s.name == "execute"]
    linked = {link.context.span_id for s in executes for link in s.links}
    assert linked == {r.context.span_id for r in roots.values()}
    assert max(s.attributes["modelport.batch_size"] for s in executes) >= 2


def test_ensemble_steps_are_spans_of_the_request(traced) -> None:
    """Each step of an ensemble is a span under the request; the member's queue span sits
    under its step and the member's batch span links to it."""
    server, exporter = traced
    exporter.clear()
    client = httpclient.InferenceServerClient(server.http_url)
    result = client.infer("chain", [_input(httpclient, 4.0)],
                          headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
    np.testing.assert_array_equal(result.as_numpy("y"), np.full((1, 2), 4.0))
    spans = _wait_spans(exporter, 9)
    root = next(s for s in spans if s.name == "infer")
    steps = [s for s in spans if s.name == "step"]
    assert len(steps) == 2
    assert all(s.parent.span_id == root.context.span_id for s in steps)
    assert [s.attributes["model"] for s in steps] == ["fast", "fast"]
    assert steps[0].end_time <= steps[1].start_time  # the second step waits for the first's output
    step_ids = {s.context.span_id for s in steps}
    assert {s.parent.span_id for s in spans if s.name == "queue"} == step_ids
    assert {s.links[0].context.span_id for s in spans if s.name == "execute"} == step_ids
    in_request = [s for s in spans if s.name != "execute"]  # a batch span is a trace of its own
    assert {format(s.context.trace_id, "032x") for s in in_request} == {TRACE_ID}


def test_tracing_off_by_default(tmp_path: Path) -> None:
    """Without a provider or OTEL_TRACES_EXPORTER, the core's tracing is disabled."""
    from support.models import add_model

    write_model(tmp_path, "m", add_model())
    server = InProcessServer(tmp_path)
    try:
        assert not server.server.core.tracing.enabled
    finally:
        server.stop()
