"""Triton's trace and logging extensions through tritonclient: settings read and changed over
HTTP and gRPC, trace sampling that follows them, log levels that change live."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from support.inprocess import InProcessServer
from support.models import add_model, write_model
from tritonclient.utils import InferenceServerException

sdk = pytest.importorskip("opentelemetry.sdk.trace")
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """Two small models."""
    write_model(tmp_path / "models", "a", add_model(1.0))
    write_model(tmp_path / "models", "b", add_model(2.0))
    return tmp_path / "models"


@pytest.fixture()
def traced(repo: Path) -> Iterator[tuple[InProcessServer, InMemorySpanExporter]]:
    """An in-process server exporting spans to memory."""
    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    server = InProcessServer(repo, tracer_provider=provider)
    yield server, exporter
    server.stop()


def _infer(client: httpclient.InferenceServerClient, model: str, times: int) -> None:
    inputs = [httpclient.InferInput(n, [1, 4], "FP32") for n in ("a", "b")]
    for i in inputs:
        i.set_data_from_numpy(np.ones((1, 4), np.float32))
    for _ in range(times):
        client.infer(model, inputs)


def _traces(exporter: InMemorySpanExporter) -> int:
    time.sleep(0.2)
    return sum(1 for s in exporter.get_finished_spans() if s.name == "infer")


def test_trace_settings_drive_sampling(traced) -> None:
    """trace_rate samples one request in N, trace_count stops after N traces, a model's own
    setting overrides the global one until cleared with null, OFF stops tracing."""
    server, exporter = traced
    http = httpclient.InferenceServerClient(server.http_url)
    settings = http.get_trace_settings()
    assert settings == {"trace_level": ["TIMESTAMPS"], "trace_rate": "1", "trace_count": "-1",
                        "trace_mode": "opentelemetry"}
    assert http.update_trace_settings(settings={"trace_rate": "3"})["trace_rate"] == "3"
    exporter.clear()
    _infer(http, "a", 9)
    assert _traces(exporter) == 3
    http.update_trace_settings(settings={"trace_rate": "1", "trace_count": "2"})
    exporter.clear()
    _infer(http, "a", 5)
    assert _traces(exporter) == 2
    http.update_trace_settings(settings={"trace_count": "-1"})
    http.update_trace_settings("b", {"trace_level": ["OFF"]})
    assert http.get_trace_settings("b")["trace_level"] == ["OFF"]
    assert http.get_trace_settings()["trace_level"] == ["TIMESTAMPS"]
    exporter.clear()
    _infer(http, "b", 3)
    _infer(http, "a", 2)
    assert _traces(exporter) == 2
    http.update_trace_settings("b", {"trace_level": None})  # back to the global setting
    exporter.clear()
    _infer(http, "b", 2)
    assert _traces(exporter) == 2


def test_trace_settings_over_grpc_and_errors(traced) -> None:
    """gRPC reads and changes the same settings; bad values and unknown models are refused,
    the trace file cannot be changed over the network."""
    server, _ = traced
    grpc = grpcclient.InferenceServerClient(server.grpc_url)
    http = httpclient.InferenceServerClient(server.http_url)
    reply = grpc.update_trace_settings(settings={"trace_rate": "5"}, as_json=True)
    assert reply["settings"]["trace_rate"]["value"] == ["5"]
    assert http.get_trace_settings()["trace_rate"] == "5"
    with pytest.raises(InferenceServerException, match="Unable to parse 'trace_rate'"):
        http.update_trace_settings(settings={"trace_rate": "often"})
    with pytest.raises(InferenceServerException, match="Expect only one trace level 'OFF'"):
        grpc.update_trace_settings(settings={"trace_level": ["OFF", "TIMESTAMPS"]})
    with pytest.raises(InferenceServerException, match="Request for unknown model : nope"):
        http.get_trace_settings("nope")
    with pytest.raises(InferenceServerException, match="trace file location") as info:
        http.update_trace_settings(settings={"trace_file": "/tmp/x"})
    assert info.value.status() == "501"


def test_log_settings_change_logging_live(start_server, repo: Path) -> None:
    """Turning log_info off silences modelport's INFO lines; verbose level 1 adds DEBUG ones;
    both fronts read the same settings."""
    server = start_server(repo, "--model-control-mode", "explicit")
    http = httpclient.InferenceServerClient(server.http_url)
    grpc = grpcclient.InferenceServerClient(server.grpc_url)
    assert http.get_log_settings() == {"log_file": "", "log_info": True, "log_warning": True,
                                       "log_error": True, "log_verbose_level": 0,
                                       "log_format": "default"}
    http.update_log_settings({"log_info": False})
    http.load_model("a")
    time.sleep(0.2)
    assert "loaded model 'a'" not in server.log()
    reply = grpc.update_log_settings({"log_info": True, "log_verbose_level": 1}, as_json=True)
    assert reply["settings"]["log_verbose_level"]["uint32_param"] == 1
    http.load_model("b")
    time.sleep(0.2)
    assert "loaded model 'b'" in server.log() and "DEBUG" in server.log()
    with pytest.raises(InferenceServerException, match="log file location"):
        http.update_log_settings({"log_file": "/tmp/elsewhere.log"})
    with pytest.raises(InferenceServerException, match="must be a bool"):
        http.update_log_settings({"log_info": "yes"})
